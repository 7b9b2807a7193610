#!lua
-- ARGV: group ('' for the whole queue).  Pauses it: claim.lua claims nothing for a
-- paused group (for any group while the queue is paused) and says so. The set
-- 'paused' holds '' for the whole queue and the names of groups paused on their own.
-- returns 1 paused now, 0 it was already
return redis.call('SADD', B .. 'paused', ARGV[1])
