#!lua flags=allow-oom
-- ARGV: group, max_retries
-- Refreshes a durable group that exists (its max_retries, and when it was last
-- seen), even when the server's memory is full; a new group is created by
-- register_new.lua instead.
-- returns 0 refreshed, -1 no such group
local g = ARGV[1]
if redis.call('HEXISTS', B .. 'groups', g) == 0 then
  return -1
end
redis.call('HSET', B .. 'groups', g, ARGV[2])
redis.call('ZADD', B .. 'gseen', now_ms(), g)
return 0
