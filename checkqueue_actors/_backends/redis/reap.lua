#!lua flags=allow-oom
-- ARGV: limit, max_stalls, failed_max, abandon_ms (0 = keep groups forever)
-- Reclaims deliveries whose lease expired (their holder died or hung): back to
-- ready, or failed once the job has stalled more than max_stalls times in that
-- group. Then removes groups no consumer has been seen in for abandon_ms.
-- returns {reclaimed, failed, removed groups...}
local limit, max_stalls, maxf, abandon = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local reclaimed, failed = reclaim_expired(limit, max_stalls, maxf, now)
local out = {reclaimed, failed}
if abandon > 0 then
  local gone = redis.call('ZRANGEBYSCORE', B .. 'gseen', '-inf', now - abandon)
  for _, g in ipairs(gone) do
    redis.call('HDEL', B .. 'groups', g)
    redis.call('ZREM', B .. 'gseen', g)
    for _, m in ipairs(redis.call('ZRANGE', B .. 'r:' .. g, 0, -1)) do
      local id = member_id(m)
      local jk = B .. 'j:' .. id
      if redis.call('EXISTS', jk) == 1 then
        redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g, 'x:' .. g, 'le:' .. g)
        sub_waiting(jk)
        finish(jk, id)
      end
    end
    redis.call('DEL', B .. 'r:' .. g, B .. 'w:' .. g)
    for _, dk in ipairs(redis.call('ZRANGE', B .. 'retry', 0, -1)) do
      local gg, id = split_dkey(dk)
      if gg == g then
        redis.call('ZREM', B .. 'retry', dk)
        local jk = B .. 'j:' .. id
        if redis.call('EXISTS', jk) == 1 then
          redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g, 'x:' .. g, 'le:' .. g)
          sub_waiting(jk)
          finish(jk, id)
        end
      end
    end
    out[#out + 1] = g
  end
end
return out
