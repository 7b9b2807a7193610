#!lua
-- ARGV: group, max_retries
-- Creates (or refreshes) a durable group; the first group ever adopts the jobs
-- enqueued while none existed, in time that does not grow with their number: the
-- orphans' set becomes the group's ready set as it is (same members and order), and
-- 'adopted' records that the jobs numbered up to the current seq are this group's
-- (see adopter_of: such a job keeps its empty group list, and a delayed one joins
-- the group when it is due). It grows the data set: without allow-oom, Redis
-- refuses it before it runs when memory is full (register.lua refreshes a group
-- that exists, even then).
local g = ARGV[1]
local now = now_ms()
local first = redis.call('HLEN', B .. 'groups') == 0
redis.call('HSET', B .. 'groups', g, ARGV[2])
redis.call('ZADD', B .. 'gseen', now, g)
if first then
  -- an adoption covers the jobs numbered after the one before it: none is recorded
  -- when no job was enqueued since (scores stay distinct, one owner per job)
  local seq = tonumber(redis.call('GET', B .. 'seq') or '0')
  local last = redis.call('ZRANGE', B .. 'adopted', -1, -1, 'WITHSCORES')
  if #last == 0 or tonumber(last[2]) < seq then
    redis.call('ZADD', B .. 'adopted', seq, seq .. ':' .. g)
  end
  local ok, rk = B .. 'orphans', B .. 'r:' .. g
  if redis.call('EXISTS', ok) == 1 then
    if redis.call('EXISTS', rk) == 0 then
      redis.call('RENAME', ok, rk)
    else
      -- not expected (a new group has no ready set), but nothing may be lost
      redis.call('ZUNIONSTORE', rk, 2, rk, ok, 'AGGREGATE', 'MIN')
      redis.call('DEL', ok)
    end
    -- as wake() once per adopted job: one wake-up token per ready job, at most 1,000
    local tokens = {}
    for _ = 1, math.min(1000, redis.call('ZCARD', rk)) do
      tokens[#tokens + 1] = '1'
    end
    local wk = B .. 'w:' .. g
    if redis.call('RPUSH', wk, unpack(tokens)) > 1000 then
      redis.call('LTRIM', wk, -1000, -1)
    end
  end
end
return first and 1 or 0
