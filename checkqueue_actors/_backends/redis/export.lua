#!lua flags=allow-oom
-- ARGV: limit
-- Removes up to limit pending jobs (waiting for at least one group) and returns
-- them: {now_ms, id, data, priority, ts_ms, seq, remaining_ms, groups, extras, ...}
-- where groups is '' when every group waits for the job (or none exists yet), else
-- the JSON list of the groups that do, and extras the job's timeout and headers as
-- JSON ('' for none)
local limit = tonumber(ARGV[1])
local now = now_ms()
local ids, seen, src = {}, {}, {}
-- remember where each id was found, to drop a stale entry whose job is gone
local function take(id, key, m)
  if not seen[id] and #ids < limit then
    seen[id] = true
    ids[#ids + 1] = id
    src[id] = {key, m}
  end
end
for _, m in ipairs(redis.call('ZRANGE', B .. 'orphans', 0, limit - 1)) do
  take(member_id(m), B .. 'orphans', m)
end
for _, g in ipairs(redis.call('HKEYS', B .. 'groups')) do
  if #ids >= limit then break end
  for _, m in ipairs(redis.call('ZRANGE', B .. 'r:' .. g, 0, limit - 1)) do
    take(member_id(m), B .. 'r:' .. g, m)
  end
end
if #ids < limit then
  for _, id in ipairs(redis.call('ZRANGE', B .. 'delayed', 0, limit - 1)) do
    take(id, B .. 'delayed', id)
  end
end
if #ids < limit then
  for _, dk in ipairs(redis.call('ZRANGE', B .. 'retry', 0, limit - 1)) do
    local _, id = split_dkey(dk)
    take(id, B .. 'retry', dk)
  end
end
local out = {now}
local all = redis.call('HKEYS', B .. 'groups')
for _, id in ipairs(ids) do
  local jk = B .. 'j:' .. id
  local j = redis.call('HMGET', jk, 'd', 'p', 'ts', 'seq', 'av', 'dl', 'gl', 'e')
  if j[1] then
    local remaining = 0
    local owed = {}
    if j[6] then
      remaining = tonumber(j[5]) - now
      for _, g in ipairs(owed_groups(j[7], j[4])) do
        if redis.call('HEXISTS', B .. 'groups', g) == 1 then owed[#owed + 1] = g end
      end
    else
      local ready = false
      local soonest = -1
      for _, g in ipairs(all) do
        if redis.call('ZSCORE', B .. 'retry', dkey(g, id)) then
          local t = tonumber(redis.call('ZSCORE', B .. 'retry', dkey(g, id)))
          if soonest < 0 or t < soonest then soonest = t end
          owed[#owed + 1] = g
        else
          local m = ready_member(id, redis.call('HGET', jk, 'm:' .. g), j[7], j[5], j[4])
          if m and redis.call('ZSCORE', B .. 'r:' .. g, m) then
            ready = true
            owed[#owed + 1] = g
          end
        end
      end
      if not ready and soonest >= 0 then remaining = soonest - now end
    end
    if remaining < 0 then remaining = 0 end
    local groups = ''
    if #owed > 0 and #owed < #all then groups = cjson.encode(owed) end
    unqueue(jk, id)
    for _, v in ipairs({id, j[1], j[2], j[3], j[4], remaining, groups, j[8] or ''}) do
      out[#out + 1] = v
    end
  else
    redis.call('ZREM', src[id][1], src[id][2])
  end
end
return out
