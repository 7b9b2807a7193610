#!lua flags=allow-oom
-- ARGV: group, or nothing for the whole queue (which also resumes every group paused
-- on its own).  Resumes it, and wakes the resumed groups that have ready jobs, so
-- that their waiting routers claim at once.
-- returns 1 something was resumed, 0 nothing was paused
local pk = B .. 'paused'
local woken = {}
if ARGV[1] then
  if redis.call('SREM', pk, ARGV[1]) == 0 then
    return 0
  end
  if redis.call('SISMEMBER', pk, '') == 0 then
    woken = {ARGV[1]}
  end
else
  if redis.call('DEL', pk) == 0 then
    return 0
  end
  woken = redis.call('HKEYS', B .. 'groups')
end
for _, g in ipairs(woken) do
  if redis.call('ZCARD', B .. 'r:' .. g) > 0 then
    wake(g)
  end
end
return 1
