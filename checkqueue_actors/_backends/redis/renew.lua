#!lua flags=allow-oom
-- ARGV: lease_ms, ngroups, group..., dkey1, token1, ...
-- Extends this process's leases and marks its groups as seen.
-- returns the delivery keys whose lease this process no longer holds (but those
-- that cancel_job ended: their holder learns it from its heartbeat)
local lease, ng = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
for i = 3, 2 + ng do
  if redis.call('HEXISTS', B .. 'groups', ARGV[i]) == 1 then
    redis.call('ZADD', B .. 'gseen', now, ARGV[i])
  end
end
local lost = {}
for i = 3 + ng, #ARGV, 2 do
  local dk, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', B .. 'lease', dk) == token then
    redis.call('ZADD', B .. 'active', 'XX', now + lease, dk)
  elseif not was_cancelled(token) then
    lost[#lost + 1] = dk
  end
end
return lost
