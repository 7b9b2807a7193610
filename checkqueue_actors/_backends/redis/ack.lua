-- ARGV: dkey1, token1, dkey2, token2, ...: completes each delivery whose lease the
-- token still holds. returns one status per delivery: 1 acked, 0 the lease was lost
-- (another holder now)
local out = {}
for i = 1, #ARGV, 2 do
  local dk, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', B .. 'lease', dk) ~= token then
    out[#out + 1] = 0
  else
    drop_lease(dk)
    local g, id = split_dkey(dk)
    local jk = B .. 'j:' .. id
    redis.call('HINCRBY', B .. 'stats', 'completed', 1)
    if redis.call('EXISTS', jk) == 1 then
      redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g)
      finish(jk, id)
    end
    out[#out + 1] = 1
  end
end
return out
