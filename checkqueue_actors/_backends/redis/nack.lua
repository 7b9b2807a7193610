-- ARGV: dkey, token, error, backoff_base_ms, final (1 = no retry), failed_max
-- returns 1 retry scheduled, 2 failed for good, 0 lease lost
local dk, token = ARGV[1], ARGV[2]
if redis.call('HGET', B .. 'lease', dk) ~= token then
  return 0
end
drop_lease(dk)
local g, id = split_dkey(dk)
local jk = B .. 'j:' .. id
if redis.call('EXISTS', jk) == 0 then
  return 2
end
local now = now_ms()
local a = tonumber(redis.call('HGET', jk, 'a:' .. g) or '0')
local maxr = tonumber(redis.call('HGET', B .. 'groups', g) or '0')
if ARGV[5] ~= '1' and a < maxr then
  local attempt = a + 1
  redis.call('HSET', jk, 'a:' .. g, attempt)
  local due = now + math.floor((2 ^ attempt) * tonumber(ARGV[4]))
  redis.call('ZADD', B .. 'retry', due, dk)
  add_waiting(jk)
  wake_timer()
  return 1
end
record_failure(g, id, jk, a, ARGV[3], tonumber(ARGV[6]), now)
finish(jk, id)
return 2
