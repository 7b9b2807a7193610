#!lua
-- ARGV: dkey.  Gives a failed delivery a fresh start in its group (attempts 0).
-- returns 1 requeued, 0 unknown record, -1 the group no longer exists
local dk = ARGV[1]
local rec = redis.call('HGET', B .. 'failed', dk)
if not rec then
  return 0
end
local g, id = split_dkey(dk)
if redis.call('HEXISTS', B .. 'groups', g) == 0 then
  return -1
end
local r = cjson.decode(rec)
local jk = B .. 'j:' .. id
local now = now_ms()
if redis.call('EXISTS', jk) == 1 then
  local j = redis.call('HMGET', jk, 'p', 'seq', 'm:' .. g, 'gl', 'av')
  local m = ready_member(id, j[3], j[4], j[5], j[2])
  if j[3] or (m and redis.call('ZSCORE', B .. 'r:' .. g, m))
      or redis.call('ZSCORE', B .. 'retry', dk) then
    return 0 -- already back in that group
  end
  redis.call('HINCRBY', jk, 'rem', 1)
  add_waiting(jk)
  push_ready(g, id, jk, now, finite(j[1]), tonumber(j[2]))
else
  local seq = redis.call('INCR', B .. 'seq')
  redis.call('HSET', jk, 'd', r.data, 'p', r.priority, 'ts', r.ts, 'seq', seq, 'av', now,
    'rem', 1, 'wt', 0, 'gl', cjson.encode({g}))
  add_waiting(jk)
  push_ready(g, id, jk, now, r.priority, seq)
end
redis.call('HDEL', B .. 'failed', dk)
redis.call('ZREM', B .. 'failedx', dk)
return 1
