-- ARGV: dkey1, token1, dkey2, token2, ...: give claimed, unstarted deliveries back now
local n = 0
for i = 1, #ARGV, 2 do
  local dk, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', B .. 'lease', dk) == token then
    drop_lease(dk)
    local g, id = split_dkey(dk)
    local jk = B .. 'j:' .. id
    if redis.call('EXISTS', jk) == 1 then
      requeue(g, id, jk)
      n = n + 1
    end
  end
end
return n
