#!lua flags=allow-oom
-- ARGV: n, lease_ms, token_prefix, ngroups, group1..groupK, then the outcomes to
-- settle first (failed_max, the number of acks, the acks, the other outcomes: see
-- settle_outcomes). Settles the outcomes (the runtime's writer lets them ride on
-- the next claim), then moves up to n ready jobs into the active set under a lease,
-- taking from the groups in the order given until n are taken (the runtime claims
-- for one group at a time).
-- returns a flat list: group index (1-based), dkey, token, id, data, priority, ts_ms,
-- attempts, the group's max_retries, the times it was lost together with others,
-- the job's timeout and headers as JSON (nil when it has none) (per delivery), then
-- one status per outcome settled (1 written, 0 lease lost, 2 ended by cancel_job),
-- then, only when a group was not claimed from because it (or the queue) is paused,
-- one more value, 'paused' (see pause.lua; one EXISTS when nothing is paused)
local n, lease, ng = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
if not (n and lease and ng) then
  error('claim: bad arguments')
end
local settled = settle_outcomes(ARGV, 5 + ng)
local now = now_ms()
local out = {}
local left_waiting = 0
local paused, pk = 0, B .. 'paused'
local pausing = redis.call('EXISTS', pk) == 1
if pausing and redis.call('SISMEMBER', pk, '') == 1 then
  paused, ng = 1, 0
end
for gi = 1, ng do
  if n <= 0 then
    break
  end
  local g = ARGV[4 + gi]
  local rk = B .. 'r:' .. g
  local popped = {}
  local skip = pausing and redis.call('SISMEMBER', pk, g) == 1
  if skip then
    paused = 1
  else
    popped = redis.call('ZPOPMIN', rk, n)
  end
  if #popped > 0 then
    local maxr = redis.call('HGET', B .. 'groups', g) or '0'
    -- one token number per popped job, taken at once
    local tok = redis.call('INCRBY', B .. 'tok', #popped / 2) - #popped / 2
    local leases, tokens = {}, {}
    for i = 1, #popped, 2 do
      local id = member_id(popped[i])
      local jk = B .. 'j:' .. id
      local j = redis.call('HMGET', jk, 'd', 'p', 'ts', 'a:' .. g, 'wt', 'sc', 'x:' .. g, 'e',
        'm:' .. g)
      tok = tok + 1
      if j[1] then
        -- as sub_waiting(), the pending count updated once below
        local wt = tonumber(j[5] or '1') - 1
        if wt == 0 then
          left_waiting = left_waiting + 1
        end
        if j[9] then
          redis.call('HSET', jk, 'wt', wt)
        else
          -- adopted as an orphan (see adopter_of): where it goes back to if released
          redis.call('HSET', jk, 'wt', wt, 'm:' .. g, popped[i])
        end
        if j[6] then
          -- an occurrence counts its claims (see started())
          redis.call('HINCRBY', jk, 'st', 1)
        end
        local dk = dkey(g, id)
        local token = ARGV[3] .. ':' .. tok
        leases[#leases + 1] = now + lease
        leases[#leases + 1] = dk
        tokens[#tokens + 1] = dk
        tokens[#tokens + 1] = token
        local o = #out
        out[o + 1] = gi
        out[o + 2] = dk
        out[o + 3] = token
        out[o + 4] = id
        out[o + 5] = j[1]
        out[o + 6] = j[2]
        out[o + 7] = j[3]
        out[o + 8] = j[4] or '0'
        out[o + 9] = maxr
        out[o + 10] = tonumber(j[7] or '0')
        out[o + 11] = j[8]
        n = n - 1
      end
    end
    if #leases > 0 then
      redis.call('ZADD', B .. 'active', unpack(leases))
      redis.call('HSET', B .. 'lease', unpack(tokens))
    end
  end
  -- keep about one wake-up token per ready job, so waiters are not woken for nothing
  local left = redis.call('ZCARD', rk)
  if left == 0 then
    redis.call('DEL', B .. 'w:' .. g)
  elseif not skip then
    redis.call('LTRIM', B .. 'w:' .. g, -left, -1)
  end
end
if left_waiting > 0 then
  redis.call('DECRBY', B .. 'npend', left_waiting)
end
for _, s in ipairs(settled) do
  out[#out + 1] = s
end
if paused == 1 then
  out[#out + 1] = 'paused'
end
return out
