#!lua flags=allow-oom
-- ARGV: id, inbox_ms, keep_ms
-- Cancels a job: takes it out of every place where it waits (ready sets, retries,
-- delayed, kept for the first group) and ends its running deliveries: each one's
-- lease is dropped, its group is done with the job (counting neither a completion
-- nor a failure), and "dkey -> token" goes to the holder's inbox (hash 'cx:<process>',
-- expiring after inbox_ms: a dead holder leaves nothing behind), which the holder's
-- next heartbeat (alive.lua) empties. The token is kept in 'cancelled' for keep_ms,
-- so that the holder's late outcome or renewal of it is no lost lease. The job is
-- then forgotten (every group is done with it); its failed-jobs entries stay.
-- returns {groups it waited in, then the groups in which it was running}
local id, inbox, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not (inbox and keep) then
  error('cancel: bad arguments')
end
local jk = B .. 'j:' .. id
local j = redis.call('HMGET', jk, 'p', 'seq', 'av', 'wt', 'gl', 'dl')
if not j[1] then
  return {0}
end
local waited = tonumber(j[4] or '0')
local groups = decode_list(j[5])
if #groups == 0 then
  groups = redis.call('HKEYS', B .. 'groups')
end
local out = {waited}
local now = nil
for _, g in ipairs(groups) do
  local dk = dkey(g, id)
  local m = ready_member(id, redis.call('HGET', jk, 'm:' .. g), j[5], j[3], j[2])
  if m then
    redis.call('ZREM', B .. 'r:' .. g, m)
  end
  redis.call('ZREM', B .. 'retry', dk)
  local token = redis.call('HGET', B .. 'lease', dk)
  if token then
    drop_lease(dk)
    if not now then
      now = now_ms()
      redis.call('ZREMRANGEBYSCORE', B .. 'cancelled', '-inf', now - keep)
    end
    redis.call('ZADD', B .. 'cancelled', now, token)
    redis.call('PEXPIRE', B .. 'cancelled', keep)
    local c = string.find(token, ':', 1, true)
    if c then
      local ik = B .. 'cx:' .. string.sub(token, 1, c - 1)
      redis.call('HSET', ik, dk, token)
      redis.call('PEXPIRE', ik, inbox)
    end
    out[#out + 1] = g
  end
end
if j[6] then
  redis.call('ZREM', B .. 'delayed', id)
end
redis.call('ZREM', B .. 'orphans', member(finite(j[3]), finite(j[2]), id))
if waited > 0 then
  redis.call('DECR', B .. 'npend')
end
forget(jk, id)
return out
