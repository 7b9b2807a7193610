#!lua
-- ARGV: group, max_retries
-- Creates (or refreshes) a durable group; the first group ever adopts the jobs
-- enqueued while none existed. It grows the data set: without allow-oom, Redis
-- refuses it before it runs when memory is full (register.lua refreshes a group
-- that exists, even then).
local g = ARGV[1]
local now = now_ms()
local first = redis.call('HLEN', B .. 'groups') == 0
redis.call('HSET', B .. 'groups', g, ARGV[2])
redis.call('ZADD', B .. 'gseen', now, g)
if first then
  local orphans = redis.call('ZRANGE', B .. 'orphans', 0, -1, 'WITHSCORES')
  local gl, mg, rk = cjson.encode({g}), 'm:' .. g, B .. 'r:' .. g
  local ready = {}
  for i = 1, #orphans, 2 do
    local m = orphans[i]
    local jk = B .. 'j:' .. member_id(m)
    if redis.call('EXISTS', jk) == 1 then
      redis.call('HSET', jk, 'gl', gl, mg, m)
      ready[#ready + 1] = orphans[i + 1]
      ready[#ready + 1] = m
      if #ready >= 1000 then
        redis.call('ZADD', rk, unpack(ready))
        ready = {}
      end
    end
  end
  if #ready > 0 then
    redis.call('ZADD', rk, unpack(ready))
  end
  -- as wake() once per adopted job: one wake-up token per ready job, at most 1,000
  local tokens = {}
  for _ = 1, math.min(1000, redis.call('ZCARD', rk)) do
    tokens[#tokens + 1] = '1'
  end
  if #tokens > 0 then
    local wk = B .. 'w:' .. g
    if redis.call('RPUSH', wk, unpack(tokens)) > 1000 then
      redis.call('LTRIM', wk, -1000, -1)
    end
  end
  redis.call('DEL', B .. 'orphans')
  -- delayed jobs enqueued while no group existed belong to the first group too
  for _, id in ipairs(redis.call('ZRANGE', B .. 'delayed', 0, -1)) do
    local jk = B .. 'j:' .. id
    if redis.call('HGET', jk, 'gl') == '' then
      redis.call('HSET', jk, 'gl', cjson.encode({g}))
    end
  end
end
return first and 1 or 0
