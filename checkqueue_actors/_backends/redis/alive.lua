#!lua flags=allow-oom
-- ARGV: process id, liveness_ms, limit, max_stalls, failed_max
-- A process says it is alive (until now + liveness_ms) and takes back the deliveries
-- of the processes that stopped saying so: their leases are expired at once, then
-- reclaimed as reap.lua does (each counts as a stall).
-- A pause of the server (or of every process) is nobody's death: when no process
-- has spoken for half a liveness period, every deadline moves by that gap first.
-- Then reads the queue's pause state and empties this process's cancel inbox (the
-- deliveries it holds that cancel_job ended, see cancel.lua).
-- returns {reclaimed, failed, dead processes, n, the n members of the pause set
-- ('' for the whole queue, else group names), then group and job id of each
-- delivery of the inbox}
local me, live = ARGV[1], tonumber(ARGV[2])
local limit, max_stalls, maxf = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if not (live and limit and max_stalls and maxf) then
  error('alive: bad arguments')
end
local now = now_ms()
local pk = B .. 'procs'
local last = tonumber(redis.call('GET', B .. 'alive_at') or '0')
redis.call('SET', B .. 'alive_at', now)
if last > 0 and now - last > live / 2 then
  local procs = redis.call('ZRANGE', pk, 0, -1, 'WITHSCORES')
  for i = 1, #procs, 2 do
    redis.call('ZADD', pk, tonumber(procs[i + 1]) + now - last, procs[i])
  end
end
redis.call('ZADD', pk, now + live, me)
local dead = redis.call('ZRANGEBYSCORE', pk, '-inf', '(' .. now)
if #dead > 0 then
  local gone = {}
  for _, p in ipairs(dead) do
    gone[p .. ':'] = true
    redis.call('ZREM', pk, p)
  end
  local leases = redis.call('HGETALL', B .. 'lease')
  for i = 1, #leases, 2 do
    local token = leases[i + 1]
    local c = string.find(token, ':', 1, true)
    if c and gone[string.sub(token, 1, c)] then
      redis.call('ZADD', B .. 'active', 'XX', 0, leases[i])
    end
  end
end
local reclaimed, failed = reclaim_expired(limit, max_stalls, maxf, now)
local out = {reclaimed, failed, #dead}
local paused = redis.call('SMEMBERS', B .. 'paused')
out[4] = #paused
for _, p in ipairs(paused) do
  out[#out + 1] = p
end
local ik = B .. 'cx:' .. me
local inbox = redis.call('HKEYS', ik)
if #inbox > 0 then
  redis.call('DEL', ik)
  for _, dk in ipairs(inbox) do
    local g, id = split_dkey(dk)
    out[#out + 1] = g
    out[#out + 1] = id
  end
end
return out
