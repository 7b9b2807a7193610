-- ARGV: dkey, token.  returns 1 acked, 0 the lease was lost (another holder now)
local dk, token = ARGV[1], ARGV[2]
if redis.call('HGET', B .. 'lease', dk) ~= token then
  return 0
end
drop_lease(dk)
local g, id = split_dkey(dk)
local jk = B .. 'j:' .. id
redis.call('HINCRBY', B .. 'stats', 'completed', 1)
if redis.call('EXISTS', jk) == 1 then
  redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g)
  finish(jk, id)
end
return 1
