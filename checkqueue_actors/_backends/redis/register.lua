-- ARGV: group, max_retries
-- Creates (or refreshes) a durable group; the first group ever adopts the jobs
-- enqueued while none existed.
local g = ARGV[1]
local now = now_ms()
local first = redis.call('HLEN', B .. 'groups') == 0
redis.call('HSET', B .. 'groups', g, ARGV[2])
redis.call('ZADD', B .. 'gseen', now, g)
if first then
  local orphans = redis.call('ZRANGE', B .. 'orphans', 0, -1, 'WITHSCORES')
  for i = 1, #orphans, 2 do
    local m = orphans[i]
    local id = member_id(m)
    local jk = B .. 'j:' .. id
    if redis.call('EXISTS', jk) == 1 then
      redis.call('HSET', jk, 'gl', cjson.encode({g}), 'm:' .. g, m)
      redis.call('ZADD', B .. 'r:' .. g, orphans[i + 1], m)
      wake(g)
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
