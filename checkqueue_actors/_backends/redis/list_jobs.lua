#!lua flags=no-writes
-- ARGV: state ('' for any but failed), group ('' for every group), limit, cursor (''
-- to start, else the one a call before returned), EXAMINE (entries read one by one
-- per call, at most), then the ids the calls before listed (not listed again)
-- Lists at most limit jobs with at least one group (the given one, if any) in that
-- state, each as job_view shows it (its every group):
--   running: the leases (zset 'active'), in order of their expiry;
--   waiting: the ready sets in delivery order (best priority, then available time,
--     then enqueue order), merged over the groups, and the jobs kept for the first
--     group (when no group is given), in the same order;
--   retrying: by due time; delayed: by the time they become available;
--   failed: the failed-jobs record, newest first;
--   '': running, then waiting, retrying and delayed jobs, each job once, at its
--     first place.
-- The work is bounded by limit (times the number of groups for waiting), and the
-- zsets read entry by entry (running, retrying, delayed, failed: with a group they
-- read past the other groups' entries) by EXAMINE entries per call: a call that
-- reaches it returns where it stopped, as a cursor, and the caller calls again with
-- it (and the limit left) to go on from there; so no call runs long, however many
-- entries a group's jobs are spread over. The jobs of one call are read at once.
-- returns the cursor ('' when the list is complete), then the job views, one after
-- another (see job_view)
local state, group, limit, cursor = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local EXAMINE = tonumber(ARGV[5])
if not (limit and limit >= 1 and cursor and EXAMINE and EXAMINE >= 1) then
  error('list_jobs: bad arguments')
end
local examined = 0
-- the cursor: "<phase>:" then the cursor (see cursor_at) of the last entry a call
-- before read, or nothing when that phase had not begun
local from_phase, from = nil, ''
if cursor ~= '' then
  local a = string.find(cursor, ':', 1, true)
  if not a then
    error('list_jobs: bad cursor')
  end
  from_phase, from = string.sub(cursor, 1, a - 1), string.sub(cursor, a + 1)
end
local next_cursor = ''
local all = redis.call('HKEYS', B .. 'groups')
local ids, seen = {}, {}
local listed = #ARGV - 5
for i = 6, #ARGV do
  seen[ARGV[i]] = true
end
local function take(id)
  if not seen[id] and #ids < limit then
    seen[id] = true
    ids[#ids + 1] = id
  end
end
-- the entries of zset B..key in order (newest first when rev), from the start or,
-- when the cursor names this phase, after it: takes the id pick() gives each (nil:
-- not listed) until limit are taken, the zset ends, or this call has examined EXAMINE
-- entries (then next_cursor says where it stopped)
local function scan(key, rev, phase, pick)
  local k = B .. key
  local start = 0
  if from_phase == phase then
    start = resume_rank(k, rev, from)
  end
  local last = nil
  while #ids < limit do
    if examined >= EXAMINE then
      next_cursor = phase .. ':' .. (last and cursor_at(k, last) or '')
      return
    end
    local n = math.min(500, EXAMINE - examined)
    local got = redis.call(rev and 'ZREVRANGE' or 'ZRANGE', k, start, start + n - 1)
    if #got == 0 then
      return
    end
    for _, m in ipairs(got) do
      examined = examined + 1
      last = m
      local id = pick(m)
      if id then
        take(id)
        if #ids >= limit then
          return
        end
      end
    end
    start = start + #got
  end
end
-- a zset of delivery keys: the job of an entry of the given group, if any
local prefix = group ~= '' and dkey(group, '') or ''
local function of_group(dk)
  if string.sub(dk, 1, #prefix) == prefix then
    local _, id = split_dkey(dk)
    return id
  end
  return nil
end
local function running()
  scan('active', false, 'running', of_group)
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
    for _, m in ipairs(redis.call('ZRANGE', sets[1], 0, want + #ids + listed - 1)) do
      take(member_id(m))
    end
    return
  end
  -- merged: a job among the first `want` new ones is among the first `want` plus
  -- those already taken (in this call or before) of each set it is in
  local entries = {}
  for _, k in ipairs(sets) do
    local got = redis.call('ZRANGE', k, 0, want + #ids + listed - 1, 'WITHSCORES')
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
  scan('retry', false, 'retrying', of_group)
end
local function delayed()
  scan('delayed', false, 'delayed', function(id)
    if group == '' then
      return id
    end
    local j = redis.call('HMGET', B .. 'j:' .. id, 'gl', 'seq')
    for _, g in ipairs(owed_groups(j[1], j[2])) do
      if g == group then
        return id
      end
    end
    return nil
  end)
end
local function failed()
  scan('failedx', true, 'failed', of_group)
end
-- a call that stops in a phase (next_cursor) runs no later one; a call that goes on
-- from a cursor runs no phase before the cursor's
local ORDER = {running = 1, waiting = 2, retrying = 3, delayed = 4, failed = 5}
local function run(phase, f)
  if next_cursor == '' and (not from_phase or ORDER[phase] >= ORDER[from_phase]) then
    f()
  end
end
if from_phase and not ORDER[from_phase] then
  error('list_jobs: bad cursor')
end
if state == 'running' then
  run('running', running)
elseif state == 'waiting' then
  waiting()
elseif state == 'retrying' then
  run('retrying', retrying)
elseif state == 'delayed' then
  run('delayed', delayed)
elseif state == 'failed' then
  run('failed', failed)
elseif state == '' then
  run('running', running)
  run('waiting', waiting)
  run('retrying', retrying)
  run('delayed', delayed)
else
  error('list_jobs: bad state ' .. state)
end
local out = {next_cursor}
for _, id in ipairs(ids) do
  job_view(out, id, all)
end
return out
