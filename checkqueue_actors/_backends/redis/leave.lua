#!lua flags=allow-oom
-- ARGV: process id
-- A process that stops cleanly leaves the living (the procs set), so that no other
-- process counts it as a death when its liveness deadline passes (alive.lua); unless
-- it still holds a lease (its stop did not settle every delivery): then it stays, and
-- its deliveries come back as a dead process's do, within about liveness_ms.
-- returns 1 when it left, 0 when it stays
local me = ARGV[1]
local prefix = me .. ':'
for _, token in ipairs(redis.call('HVALS', B .. 'lease')) do
  if string.sub(token, 1, #prefix) == prefix then
    return 0
  end
end
redis.call('ZREM', B .. 'procs', me)
redis.call('DEL', B .. 'cx:' .. me)
return 1
