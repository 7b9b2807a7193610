-- ARGV: dkey1, token1, dkey2, token2, ...: completes each delivery whose lease the
-- token still holds. returns one status per delivery: 1 acked, 0 the lease was lost
-- (another holder now)
return ack_deliveries(ARGV, 1)
