-- ARGV: dkey1, token1, dkey2, token2, ...: completes each delivery whose lease the
-- token still holds. returns one status per delivery: 1 acked, 0 the lease was lost
-- (another holder now)
local out = {}
for i = 1, #ARGV, 2 do
  out[#out + 1] = ack_delivery(ARGV[i], ARGV[i + 1])
end
return out
