#!lua flags=allow-oom
-- Ends one process's wait for work early: its blocking pop on the group's wake list
-- also watches a list of its own, "wi:<wait>", onto which this pushes a token.
-- ARGV: the wait's id, how long the token may outlive the wait (ms) when no pop takes
-- it (the wait had ended already: the next wait of that connection takes it).
local k = B .. 'wi:' .. ARGV[1]
redis.call('LPUSH', k, 1)
redis.call('PEXPIRE', k, tonumber(ARGV[2]))
return 1
