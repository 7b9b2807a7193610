#!lua flags=allow-oom
-- ARGV: limit, max_stalls, failed_max, abandon_ms (0 = keep groups forever)
-- Reclaims deliveries whose lease expired (their holder died or hung): back to
-- ready, or failed once the job has stalled more than max_stalls times in that
-- group. Then removes groups no consumer has been seen in for abandon_ms: a removed
-- group's ready set is set aside at once (renamed 'drop:<n>', listed in hash 'drops'
-- with its group), and each call finishes at most limit of the jobs set aside for
-- their group, so that no call runs long whatever the backlog (the caller calls
-- again soon while some are left).
-- returns {reclaimed, failed, 1 when jobs set aside are left else 0, removed groups...}
local limit, max_stalls, maxf, abandon = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local reclaimed, failed = reclaim_expired(limit, max_stalls, maxf, now)
local out = {reclaimed, failed, 0}
local dropping = B .. 'drops'
-- removed group g is done with job id, which waited for it (neither a completion nor
-- a failure)
local function drop_for(g, id)
  local jk = B .. 'j:' .. id
  if redis.call('EXISTS', jk) == 1 then
    redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g, 'x:' .. g, 'le:' .. g)
    sub_waiting(jk)
    finish(jk, id)
  end
end
if abandon > 0 then
  local gone = redis.call('ZRANGEBYSCORE', B .. 'gseen', '-inf', now - abandon)
  for _, g in ipairs(gone) do
    redis.call('HDEL', B .. 'groups', g)
    redis.call('ZREM', B .. 'gseen', g)
    redis.call('DEL', B .. 'w:' .. g)
    local rk = B .. 'r:' .. g
    if redis.call('EXISTS', rk) == 1 then
      local xk = B .. 'drop:' .. redis.call('INCR', B .. 'dropn')
      redis.call('RENAME', rk, xk)
      redis.call('HSET', dropping, xk, g)
    end
    for _, dk in ipairs(redis.call('ZRANGE', B .. 'retry', 0, -1)) do
      local gg, id = split_dkey(dk)
      if gg == g then
        redis.call('ZREM', B .. 'retry', dk)
        drop_for(g, id)
      end
    end
    out[#out + 1] = g
  end
end
-- its group is done with each job set aside, at most limit of them a call
if redis.call('EXISTS', dropping) == 1 then
  local budget = limit
  local drops = redis.call('HGETALL', dropping)
  for i = 1, #drops, 2 do
    if budget <= 0 then
      out[3] = 1
      break
    end
    local xk, g = drops[i], drops[i + 1]
    local popped = redis.call('ZPOPMIN', xk, budget)
    for k = 1, #popped, 2 do
      drop_for(g, member_id(popped[k]))
    end
    budget = budget - #popped / 2
    if redis.call('EXISTS', xk) == 0 then
      redis.call('HDEL', dropping, xk)
    else
      out[3] = 1
    end
  end
end
return out
