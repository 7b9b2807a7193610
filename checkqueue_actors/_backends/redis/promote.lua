#!lua flags=allow-oom
-- ARGV: limit
-- Moves due delayed jobs and due retries to their ready sets, and lists the due
-- ticks of recurring jobs (the caller computes each one's occurrence id and next
-- tick, and fires it with sched_fire).
-- returns {now_ms, next due ms of what is not due yet or -1, moved, then per due
-- tick: schedule id, due ms, grid base ms, grid step ms (0 for cron), cron pattern
-- and timezone ('' for an interval job or UTC)}
local limit = tonumber(ARGV[1])
local now = now_ms()
local moved = 0
local due = redis.call('ZRANGEBYSCORE', B .. 'delayed', '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #due, 2 do
  local id, av = due[i], tonumber(due[i + 1])
  redis.call('ZREM', B .. 'delayed', id)
  local jk = B .. 'j:' .. id
  local j = redis.call('HMGET', jk, 'p', 'seq', 'gl')
  if j[1] then
    redis.call('HDEL', jk, 'dl')
    local p, seq = finite(j[1]), tonumber(j[2])
    local gl = owed_groups(j[3], j[2])
    if #gl == 0 then
      redis.call('ZADD', B .. 'orphans', -p, member(av, seq, id))
    else
      for _, g in ipairs(gl) do
        if redis.call('HEXISTS', B .. 'groups', g) == 1 then
          push_ready(g, id, jk, av, p, seq)
        else
          sub_waiting(jk)
          finish(jk, id)
        end
      end
    end
    moved = moved + 1
  end
end
local rdue = redis.call('ZRANGEBYSCORE', B .. 'retry', '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #rdue, 2 do
  local dk, at = rdue[i], tonumber(rdue[i + 1])
  redis.call('ZREM', B .. 'retry', dk)
  local g, id = split_dkey(dk)
  local jk = B .. 'j:' .. id
  local j = redis.call('HMGET', jk, 'p', 'seq')
  if j[1] then
    if redis.call('HEXISTS', B .. 'groups', g) == 1 then
      push_ready(g, id, jk, at, finite(j[1]), tonumber(j[2]))
    else
      sub_waiting(jk)
      finish(jk, id)
    end
    moved = moved + 1
  end
end
local nxt = -1
for _, k in ipairs({'delayed', 'retry'}) do
  local first = redis.call('ZRANGE', B .. k, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local t = tonumber(first[2])
    if nxt < 0 or t < nxt then
      nxt = t
    end
  end
end
local later = redis.call('ZRANGEBYSCORE', B .. 'snext', '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #later > 0 then
  local t = tonumber(later[2])
  if nxt < 0 or t < nxt then
    nxt = t
  end
end
local out = {now, nxt, moved}
local sdue = redis.call('ZRANGEBYSCORE', B .. 'snext', '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #sdue, 2 do
  local id = sdue[i]
  local s = redis.call('HMGET', B .. 's:' .. id, 'base', 'step', 'spec')
  local cron, tz = '', ''
  if s[3] and tonumber(s[2] or '0') == 0 then
    local spec = cjson.decode(s[3])
    if type(spec.cron) == 'string' then
      cron = spec.cron
    end
    if type(spec.tz) == 'string' then
      tz = spec.tz
    end
  end
  local o = #out
  out[o + 1] = id
  out[o + 2] = sdue[i + 1]
  out[o + 3] = s[1] or '0'
  out[o + 4] = s[2] or '0'
  out[o + 5] = cron
  out[o + 6] = tz
end
return out
