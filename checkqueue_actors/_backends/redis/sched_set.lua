#!lua
-- ARGV: id, spec (JSON, opaque here), identity, first_ms_offset, cron_first_ms, step_ms
-- Declares or replaces a recurring job. An identical declaration (same identity)
-- changes nothing. A replacement drops the old schedule's occurrences that no
-- group has started. The first tick is now + first_ms_offset for an interval
-- schedule (step_ms > 0), or cron_first_ms for a cron one.
-- returns 1 when (re)declared, 0 when identical
local id = ARGV[1]
local sk = B .. 's:' .. id
local old = redis.call('HGET', sk, 'ident')
if old == ARGV[3] then
  return 0
end
if old then
  for _, oid in ipairs(redis.call('SMEMBERS', B .. 'so:' .. id)) do
    local jk = B .. 'j:' .. oid
    if not started(jk) then
      unqueue(jk, oid)
    end
  end
end
local now = now_ms()
local step = tonumber(ARGV[6])
local first
if step > 0 then
  first = now + tonumber(ARGV[4])
else
  first = tonumber(ARGV[5])
end
redis.call('HSET', sk, 'spec', ARGV[2], 'ident', ARGV[3], 'base', first, 'step', step)
redis.call('ZADD', B .. 'snext', first, id)
wake_timer()
return 1
