-- ARGV: failed_max, then dkey, token, how, detail per delivery (see settle_outcomes):
-- writes how a batch of deliveries ended (any mix of outcomes) in one call.
-- returns one status per delivery: 1 written, 0 the lease was lost (another holder now)
return settle_outcomes(ARGV, 1)
