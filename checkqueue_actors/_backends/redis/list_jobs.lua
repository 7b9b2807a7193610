#!lua flags=no-writes
-- ARGV: state ('' for any but failed), group ('' for every group), limit
-- Lists at most limit jobs with at least one group (the given one, if any) in that
-- state, read at once, each as job_view shows it (its every group):
--   running: the leases (zset 'active'), in order of their expiry;
--   waiting: the ready sets in delivery order (best priority, then available time,
--     then enqueue order), merged over the groups, and the jobs kept for the first
--     group (when no group is given), in the same order;
--   retrying: by due time; delayed: by the time they become available;
--   failed: the failed-jobs record, newest first;
--   '': running, then waiting, retrying and delayed jobs, each job once, at its
--     first place.
-- The work is bounded by limit (times the number of groups for waiting), but for
-- running and retrying with a group, and delayed with a group, which read past
-- the entries of other groups (500 at a time) until limit are found.
-- returns the job views, one after another (see job_view)
local state, group, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not limit or limit < 1 then
  error('list_jobs: bad arguments')
end
local all = redis.call('HKEYS', B .. 'groups')
local ids, seen = {}, {}
local function take(id)
  if not seen[id] and #ids < limit then
    seen[id] = true
    ids[#ids + 1] = id
  end
end
-- the entries of a zset of delivery keys, in order (newest first when rev), of the
-- given group only when there is one, until limit ids are taken
local function scan_dkeys(key, rev)
  local prefix = group ~= '' and dkey(group, '') or ''
  local start, chunk = 0, 500
  if prefix == '' then
    chunk = limit
  end
  while #ids < limit do
    local cmd = rev and 'ZREVRANGE' or 'ZRANGE'
    local dks = redis.call(cmd, B .. key, start, start + chunk - 1)
    if #dks == 0 then
      break
    end
    for _, dk in ipairs(dks) do
      if string.sub(dk, 1, #prefix) == prefix then
        local _, id = split_dkey(dk)
        take(id)
      end
    end
    start = start + chunk
  end
end
local function running()
  scan_dkeys('active', false)
end
local function waiting()
  local sets = {}
  if group ~= '' then
    sets = {B .. 'r:' .. group}
  else
    for _, g in ipairs(all) do
      sets[#sets + 1] = B .. 'r:' .. g
    end
    sets[#sets + 1] = B .. 'orphans'
  end
  local want = limit - #ids
  if #sets == 1 then
    for _, m in ipairs(redis.call('ZRANGE', sets[1], 0, want + #ids - 1)) do
      take(member_id(m))
    end
    return
  end
  -- merged: a job among the first `want` new ones is among the first `want` plus
  -- those already taken of each set it is in
  local entries = {}
  for _, k in ipairs(sets) do
    local got = redis.call('ZRANGE', k, 0, want + #ids - 1, 'WITHSCORES')
    for i = 1, #got, 2 do
      entries[#entries + 1] = {tonumber(got[i + 1]), got[i]}
    end
  end
  table.sort(entries, function(a, b)
    if a[1] ~= b[1] then
      return a[1] < b[1]
    end
    return a[2] < b[2]
  end)
  for _, e in ipairs(entries) do
    take(member_id(e[2]))
    if #ids >= limit then
      break
    end
  end
end
local function retrying()
  scan_dkeys('retry', false)
end
local function delayed()
  local start, chunk = 0, limit
  if group ~= '' then
    chunk = 500
  end
  while #ids < limit do
    local got = redis.call('ZRANGE', B .. 'delayed', start, start + chunk - 1)
    if #got == 0 then
      break
    end
    for _, id in ipairs(got) do
      if group == '' then
        take(id)
      else
        local j = redis.call('HMGET', B .. 'j:' .. id, 'gl', 'seq')
        for _, g in ipairs(owed_groups(j[1], j[2])) do
          if g == group then
            take(id)
            break
          end
        end
      end
    end
    start = start + chunk
  end
end
local function failed()
  scan_dkeys('failedx', true)
end
if state == 'running' then
  running()
elseif state == 'waiting' then
  waiting()
elseif state == 'retrying' then
  retrying()
elseif state == 'delayed' then
  delayed()
elseif state == 'failed' then
  failed()
elseif state == '' then
  running()
  waiting()
  retrying()
  delayed()
else
  error('list_jobs: bad state ' .. state)
end
local out = {}
for _, id in ipairs(ids) do
  job_view(out, id, all)
end
return out
