#!lua flags=no-writes
-- ARGV: id.  Where the job stands in each of its groups, read at once (see
-- job_view): {id, data, priority, ts_ms, extras, n, n x (group, state, attempts,
-- available ms or -1, last error)}, or {} when the job is neither in the queue nor
-- in the failed-jobs record
local out = {}
job_view(out, ARGV[1], redis.call('HKEYS', B .. 'groups'))
return out
