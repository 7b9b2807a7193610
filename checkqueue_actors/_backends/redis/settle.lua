#!lua flags=allow-oom
-- ARGV: failed_max, the number of acks, then the acks (dkey, token) and the other
-- outcomes (dkey, token, how, detail), as settle_outcomes reads them:
-- writes how a batch of deliveries ended (any mix of outcomes) in one call.
-- returns one status per delivery: 1 written, 0 the lease was lost (another holder now)
return settle_outcomes(ARGV, 1)
