-- Shared helpers, prepended to every script of the Redis backend (see docs/redis.md).
-- KEYS[1] is the queue's key base "<prefix>:{<queue>}:"; every key a script touches
-- starts with it, so all keys of one queue share a Redis Cluster hash slot.
-- Times are milliseconds of the server's clock (TIME; effects replication, Redis >= 5).
local B = KEYS[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- a delivery key: one job in one group, "<len(group)>:<group><job id>"
local function dkey(g, id)
  return #g .. ':' .. g .. id
end

local function split_dkey(dk)
  local c = string.find(dk, ':', 1, true)
  local n = tonumber(string.sub(dk, 1, c - 1))
  return string.sub(dk, c + 1, c + n), string.sub(dk, c + n + 1)
end

-- ready member: ordered by the moment the job became available, then enqueue order
local function member(av, seq, id)
  return string.format('%015d:%012d:', av, seq) .. id
end

local MEMBER_PREFIX = 30 -- 15 + 1 + 12 + 1 + 1: where the job id starts in a member

local function member_id(m)
  return string.sub(m, MEMBER_PREFIX)
end

local function wake(g)
  local k = B .. 'w:' .. g
  if redis.call('RPUSH', k, '1') > 1000 then
    redis.call('LTRIM', k, -1000, -1)
  end
end

local function wake_timer()
  redis.call('RPUSH', B .. 'tw', '1')
  redis.call('LTRIM', B .. 'tw', -4, -1)
end

local function add_waiting(jk)
  if redis.call('HINCRBY', jk, 'wt', 1) == 1 then
    redis.call('INCR', B .. 'npend')
  end
end

local function sub_waiting(jk)
  if redis.call('HINCRBY', jk, 'wt', -1) == 0 then
    redis.call('DECR', B .. 'npend')
  end
end

local function forget(jk, id)
  local sc = redis.call('HGET', jk, 'sc')
  if sc then
    redis.call('SREM', B .. 'so:' .. sc, id)
  end
  redis.call('DEL', jk)
end

-- one group is done with the job; the job leaves the queue when every group is
local function finish(jk, id)
  if redis.call('HINCRBY', jk, 'rem', -1) <= 0 then
    forget(jk, id)
  end
end

-- a stored number as a finite number: a value another writer corrupted (not a
-- number, or beyond a double) reads as 0, so one bad job never stops a script; the
-- runtime fails that job alone when it cannot decode it
local function finite(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return 0
  end
  return n
end

local function push_ready(g, id, jk, av, p, seq)
  local m = member(av, seq, id)
  redis.call('HSET', jk, 'm:' .. g, m)
  redis.call('ZADD', B .. 'r:' .. g, -p, m)
  wake(g)
end

local function decode_list(s)
  if not s or s == '' then
    return {}
  end
  return cjson.decode(s)
end

-- The first group adopts the jobs enqueued while no group existed in O(1) (see
-- register_new.lua): the orphans' set becomes its ready set as it is, and zset
-- 'adopted' records the adoption, scored by the last job number (seq) it covers,
-- member "<seq>:<group>". Such a job keeps its empty group list ('gl' '') and has no
-- 'm:<group>' until the group claims it.
-- the group that adopted the job numbered seq with an empty group list: the first
-- adoption after it was enqueued (nil while none has happened)
local function adopter_of(seq)
  local a = redis.call('ZRANGEBYSCORE', B .. 'adopted', seq, '+inf', 'LIMIT', 0, 1)
  if #a == 0 then
    return nil
  end
  return string.sub(a[1], string.find(a[1], ':', 1, true) + 1)
end

-- the groups a job is owed to: its group list, or for a job enqueued while no group
-- existed, the group that adopted it ({} while none has)
local function owed_groups(gl, seq)
  local owed = decode_list(gl)
  if #owed == 0 then
    local g = adopter_of(finite(seq))
    if g then
      owed = {g}
    end
  end
  return owed
end

-- a job's member in a group's ready set if it waits there: m ('m:<group>'), or for
-- a job enqueued while no group existed (gl '') that its adopter has not claimed
-- yet, the member it had as an orphan (nil when neither applies)
local function ready_member(id, m, gl, av, seq)
  if m then
    return m
  end
  if (gl == nil or gl == '') and av and seq then
    return member(finite(av), finite(seq), id)
  end
  return nil
end

-- A scan that reads a zset entry by entry a bounded number of entries per call stops
-- at the last entry it read, "<score>:<member>" (a cursor), and the next call goes on
-- from there.
-- the cursor of member m of zset k
local function cursor_at(k, m)
  return redis.call('ZSCORE', k, m) .. ':' .. m
end

-- where to go on in zset k (a rank, in the scan's order: newest first when rev) after
-- the cursor's entry: just after it, or after every entry of its score when it is gone
-- meanwhile; 0 for '' (from the start)
local function resume_rank(k, rev, cursor)
  if cursor == '' then
    return 0
  end
  local c = string.find(cursor, ':', 1, true)
  if not c then
    error('bad cursor')
  end
  local score, m = string.sub(cursor, 1, c - 1), string.sub(cursor, c + 1)
  local r = redis.call(rev and 'ZREVRANK' or 'ZRANK', k, m)
  if r then
    return r + 1
  end
  if rev then
    return redis.call('ZCOUNT', k, score, '+inf')
  end
  return redis.call('ZCOUNT', k, '-inf', score)
end

-- the groups a job enqueued now goes to, and their JSON list ('' for none)
local function current_groups()
  local groups = redis.call('HKEYS', B .. 'groups')
  local gl = ''
  if #groups > 0 then
    gl = cjson.encode(groups)
  end
  return groups, gl
end

-- store a new job; returns 1 stored, 0 duplicate id, -1 queue full, and then the
-- number of pending jobs after the call (nil for a duplicate).
-- groups and gl (from current_groups) may be passed by a caller storing many jobs;
-- ex: the job's timeout and headers as JSON ('' or nil for none), kept in field 'e'
-- only when present, so a job without them costs nothing more
local function enqueue_job(id, data, p, delay, maxq, sc, now, groups, gl, ex)
  local jk = B .. 'j:' .. id
  if redis.call('EXISTS', jk) == 1 then
    return 0
  end
  -- counted first, given back when over: one command on the common path
  local pend = redis.call('INCR', B .. 'npend')
  if pend > maxq then
    redis.call('DECR', B .. 'npend')
    return -1, pend - 1
  end
  local seq = redis.call('INCR', B .. 'seq')
  if groups == nil then
    groups, gl = current_groups()
  end
  local av = now + delay
  local cnt = #groups
  if cnt == 0 then
    cnt = 1
  end
  local fields = {'d', data, 'p', p, 'ts', now, 'seq', seq, 'av', av, 'rem', cnt, 'wt', cnt,
    'gl', gl}
  if sc ~= '' then
    fields[#fields + 1] = 'sc'
    fields[#fields + 1] = sc
    redis.call('SADD', B .. 'so:' .. sc, id)
  end
  if ex and ex ~= '' then
    fields[#fields + 1] = 'e'
    fields[#fields + 1] = ex
  end
  if delay > 0 then
    fields[#fields + 1] = 'dl'
    fields[#fields + 1] = '1'
    redis.call('HSET', jk, unpack(fields))
    redis.call('ZADD', B .. 'delayed', av, id)
    wake_timer()
  elseif #groups == 0 then
    redis.call('HSET', jk, unpack(fields))
    redis.call('ZADD', B .. 'orphans', -p, member(av, seq, id))
  elseif #groups > 64 then
    -- unpack() has a bounded stack: many groups take push_ready's path
    redis.call('HSET', jk, unpack(fields))
    for _, g in ipairs(groups) do
      push_ready(g, id, jk, av, p, seq)
    end
  else
    -- as push_ready for each group, with the members written by the one HSET
    local m = member(av, seq, id)
    for _, g in ipairs(groups) do
      fields[#fields + 1] = 'm:' .. g
      fields[#fields + 1] = m
    end
    redis.call('HSET', jk, unpack(fields))
    for _, g in ipairs(groups) do
      redis.call('ZADD', B .. 'r:' .. g, -p, m)
      wake(g)
    end
  end
  return 1, pend
end

-- take a job out of every place where it waits; returns the groups it waited for
local function unqueue(jk, id)
  local j = redis.call('HMGET', jk, 'p', 'seq', 'av', 'wt', 'rem', 'gl')
  local waited = tonumber(j[4] or '0')
  for _, g in ipairs(redis.call('HKEYS', B .. 'groups')) do
    local m = ready_member(id, redis.call('HGET', jk, 'm:' .. g), j[6], j[3], j[2])
    if m then
      redis.call('ZREM', B .. 'r:' .. g, m)
    end
    redis.call('ZREM', B .. 'retry', dkey(g, id))
  end
  redis.call('ZREM', B .. 'delayed', id)
  if j[1] then
    redis.call('ZREM', B .. 'orphans', member(tonumber(j[3]), tonumber(j[2]), id))
  end
  if waited > 0 then
    redis.call('DECR', B .. 'npend')
  end
  local rem = tonumber(j[5] or '0') - waited
  if rem <= 0 then
    forget(jk, id)
  else
    redis.call('HSET', jk, 'wt', 0, 'rem', rem)
  end
  return waited
end

-- bounded, inspectable record of failed deliveries (one per job and group)
local function record_failure(g, id, jk, attempts, err, maxf, now)
  local j = redis.call('HMGET', jk, 'd', 'p', 'ts', 'e')
  local dk = dkey(g, id)
  -- e: the job's timeout and headers (extras JSON), kept only when it has some
  local rec = cjson.encode({
    id = id, group = g, data = j[1] or 'null', priority = finite(j[2]),
    ts = finite(j[3]), attempts = attempts, error = err, failed_at = now, e = j[4] or nil,
  })
  redis.call('HSET', B .. 'failed', dk, rec)
  redis.call('ZADD', B .. 'failedx', now, dk)
  local over = redis.call('ZCARD', B .. 'failedx') - maxf
  if over > 0 then
    local old = redis.call('ZRANGE', B .. 'failedx', 0, over - 1)
    for _, k in ipairs(old) do
      redis.call('HDEL', B .. 'failed', k)
    end
    redis.call('ZREMRANGEBYRANK', B .. 'failedx', 0, over - 1)
  end
  redis.call('HINCRBY', B .. 'stats', 'failed', 1)
  redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g, 'x:' .. g, 'le:' .. g)
end

-- give a leased delivery back to its group's ready set (attempts unchanged)
local function requeue(g, id, jk)
  local j = redis.call('HMGET', jk, 'm:' .. g, 'p')
  if not j[1] then
    return
  end
  add_waiting(jk)
  redis.call('ZADD', B .. 'r:' .. g, -finite(j[2]), j[1])
  wake(g)
end

-- occurrences of a schedule count the claims not given back: a started occurrence
-- is kept when its schedule is replaced or cancelled
local function unstart(jk)
  if redis.call('HEXISTS', jk, 'sc') == 1 then
    redis.call('HINCRBY', jk, 'st', -1)
  end
end

local function started(jk)
  return tonumber(redis.call('HGET', jk, 'st') or '0') > 0
end

-- a retry's detail, "<delay ms>" or "<delay ms>:<error text>": the delay (nil when
-- it is not a number) and the error text (nil for none)
local function retry_detail(d)
  local c = string.find(d, ':', 1, true)
  if not c then
    return tonumber(d), nil
  end
  return tonumber(string.sub(d, 1, c - 1)), string.sub(d, c + 1)
end

-- the token of a delivery that cancel_job ended (its lease dropped there): a late
-- outcome or renewal of it is no lost lease. cancel_job keeps the tokens it ended
-- for a while (zset 'cancelled', token -> when); a token names one lease of the
-- queue (its process and a counter of the queue), so it is enough
local function was_cancelled(token)
  return redis.call('ZSCORE', B .. 'cancelled', token) ~= false
end

local function drop_lease(dk)
  redis.call('ZREM', B .. 'active', dk)
  redis.call('HDEL', B .. 'lease', dk)
end

-- settle the outcomes given in args from index `from` on: failed_max, the number
-- of acks k, then dkey and token of each acked delivery (k pairs), then four
-- values per other outcome: dkey, token, how (1 retry, 2 fail, 3 release; 0 ack
-- is accepted too) and detail (retry: the delay in ms, decided by the caller,
-- then, when the failure has an error text, ':' and that text, kept as the
-- group's last error of the job (field 'le:<group>') until the group is done with
-- it; fail: the error text; otherwise empty). An outcome is applied only where its
-- token still holds the lease (a delivery taken over by another holder is not
-- touched).
-- returns one status per outcome, acks first, then the others, each in the order
-- given: 1 written, 0 the lease was lost, 2 nothing written: cancel_job ended the
-- delivery (see was_cancelled)
local function settle_outcomes(args, from)
  local out = {}
  if #args < from then
    return out
  end
  local maxf, nacks = tonumber(args[from]), tonumber(args[from + 1])
  local rest = from + 2 + 2 * (nacks or 0)
  -- every check before any write: a bad request changes nothing
  if not (maxf and nacks) or nacks < 0 or rest > #args + 1 or (#args + 1 - rest) % 4 ~= 0 then
    error('settle: bad arguments')
  end
  for i = rest, #args, 4 do
    local how = args[i + 2]
    if how == '1' then
      if not retry_detail(args[i + 3]) then
        error('settle: bad retry delay ' .. tostring(args[i + 3]))
      end
    elseif how ~= '0' and how ~= '2' and how ~= '3' then
      error('settle: bad outcome ' .. tostring(how))
    end
  end
  local dks, toks, hows, details = {}, {}, {}, {}
  for i = from + 2, rest - 1, 2 do
    dks[#dks + 1] = args[i]
    toks[#toks + 1] = args[i + 1]
    hows[#hows + 1] = '0'
  end
  for i = rest, #args, 4 do
    local k = #dks + 1
    dks[k] = args[i]
    toks[k] = args[i + 1]
    hows[k] = args[i + 2]
    details[k] = args[i + 3]
  end
  local now = nil
  local completed = 0
  local retried = false
  local at = {}
  for c = 1, #dks, 1000 do
    local last = math.min(#dks, c + 999)
    local held = redis.call('HMGET', B .. 'lease', unpack(dks, c, last))
    local done = {}
    for k = c, last do
      local dk = dks[k]
      local holds = held[k - c + 1] == toks[k]
      -- a delivery given twice in one call is settled once (the first wins)
      if holds and not at[dk] then
        done[#done + 1] = dk
        at[dk] = k
      end
      if holds then
        out[k] = 1
      elseif was_cancelled(toks[k]) then
        out[k] = 2
      else
        out[k] = 0
      end
    end
    if #done > 0 then
      redis.call('ZREM', B .. 'active', unpack(done))
      redis.call('HDEL', B .. 'lease', unpack(done))
    end
    for _, dk in ipairs(done) do
      local k = at[dk]
      local how = hows[k]
      local g, id = split_dkey(dk)
      local jk = B .. 'j:' .. id
      if how == '0' then
        completed = completed + 1
        local j = redis.call('HMGET', jk, 'rem', 'sc')
        if j[1] then
          -- as finish(), with the group's marks dropped in the same write
          local rem = tonumber(j[1]) - 1
          if rem <= 0 then
            if j[2] then
              redis.call('SREM', B .. 'so:' .. j[2], id)
            end
            redis.call('DEL', jk)
          else
            redis.call('HSET', jk, 'rem', rem)
            redis.call('HDEL', jk, 'a:' .. g, 's:' .. g, 'm:' .. g, 'x:' .. g, 'le:' .. g)
          end
        end
      elseif redis.call('EXISTS', jk) == 1 then
        if how == '1' then
          now = now or now_ms()
          local delay, err = retry_detail(details[k])
          redis.call('HINCRBY', jk, 'a:' .. g, 1)
          redis.call('HDEL', jk, 'x:' .. g) -- it ran and came back: not a suspect
          if err then
            redis.call('HSET', jk, 'le:' .. g, err)
          end
          redis.call('ZADD', B .. 'retry', now + delay, dk)
          add_waiting(jk)
          retried = true
        elseif how == '2' then
          now = now or now_ms()
          local a = tonumber(redis.call('HGET', jk, 'a:' .. g) or '0')
          record_failure(g, id, jk, a, details[k], maxf, now)
          finish(jk, id)
        else
          unstart(jk)
          requeue(g, id, jk)
        end
      end
    end
  end
  if completed > 0 then
    redis.call('HINCRBY', B .. 'stats', 'completed', completed)
  end
  if retried then
    wake_timer()
  end
  return out
end

-- take back the deliveries whose lease expired (their holder died or hung), at most
-- limit: back to ready, or failed once the job has stalled more than max_stalls
-- times in that group. Blame is counted only where it is clear: a delivery whose
-- holder lost no other delivery with it stalls; deliveries lost together (any of
-- them may have killed the process) stall none and count a shared loss instead
-- ('x:' field); one lost together more than max_stalls times is run alone by its
-- next holder, so that its next loss is clear. returns reclaimed, failed
local function reclaim_expired(limit, max_stalls, maxf, now)
  local reclaimed, failed = 0, 0
  local expired = redis.call('ZRANGEBYSCORE', B .. 'active', '-inf', now, 'LIMIT', 0, limit)
  if #expired == 0 then
    return 0, 0
  end
  local holders = redis.call('HMGET', B .. 'lease', unpack(expired))
  local lost_with = {}
  for k, token in ipairs(holders) do
    local c = token and string.find(token, ':', 1, true)
    local holder = c and string.sub(token, 1, c) or ''
    holders[k] = holder
    lost_with[holder] = (lost_with[holder] or 0) + 1
  end
  for k, dk in ipairs(expired) do
    drop_lease(dk)
    local g, id = split_dkey(dk)
    local jk = B .. 'j:' .. id
    if redis.call('EXISTS', jk) == 1 then
      if redis.call('HEXISTS', B .. 'groups', g) == 0 then
        finish(jk, id)
      elseif lost_with[holders[k]] > 1 then
        redis.call('HINCRBY', jk, 'x:' .. g, 1)
        requeue(g, id, jk)
        reclaimed = reclaimed + 1
      else
        local stalls = redis.call('HINCRBY', jk, 's:' .. g, 1)
        if stalls > max_stalls then
          local a = tonumber(redis.call('HGET', jk, 'a:' .. g) or '0')
          record_failure(g, id, jk, a,
            'stalled: the delivery lease expired ' .. stalls .. ' times (worker lost)', maxf, now)
          finish(jk, id)
          failed = failed + 1
        else
          requeue(g, id, jk)
          reclaimed = reclaimed + 1
        end
      end
    end
  end
  return reclaimed, failed
end

-- one job as job_info.lua and list_jobs.lua show it, appended to out: id, data,
-- priority, ts_ms, extras (false for none), the number of groups, then per group:
-- name, state, attempts, available ms (-1 for none), last error (false for none).
-- Its groups: those that owe it (owed_groups; every group in `all`, the current
-- groups, when that is empty), with where it stands in each, and the
-- groups whose failed-jobs record has an entry of it (a group that owes the job
-- again is shown where it stands). Nothing is appended when the job is neither in
-- the queue nor in the record (a job only in the record shows the record's data).
-- returns true when something was appended
local function job_view(out, id, all)
  local jk = B .. 'j:' .. id
  local j = redis.call('HMGET', jk, 'd', 'p', 'ts', 'e', 'gl', 'dl', 'av', 'seq')
  local exists = {}
  for _, g in ipairs(all) do
    exists[g] = true
  end
  local rows, shown = {}, {}
  local function row(g, state, attempts, av, err)
    shown[g] = true
    local r = #rows
    rows[r + 1] = g
    rows[r + 2] = state
    rows[r + 3] = attempts
    rows[r + 4] = av
    rows[r + 5] = err or false
  end
  local owed = {}
  if j[1] then
    owed = owed_groups(j[5], j[8])
    local listed = #owed > 0
    if not listed and not j[6] then
      owed = all
    end
    for _, g in ipairs(owed) do
      local f = redis.call('HMGET', jk, 'a:' .. g, 'le:' .. g, 'm:' .. g)
      local m = ready_member(id, f[3], j[5], j[7], j[8])
      local attempts = tonumber(f[1] or '0')
      local dk = dkey(g, id)
      if j[6] then
        if exists[g] then
          row(g, 'delayed', attempts, finite(j[7]), f[2])
        end
      elseif redis.call('HEXISTS', B .. 'lease', dk) == 1 then
        row(g, 'running', attempts, -1, f[2])
      else
        local due = redis.call('ZSCORE', B .. 'retry', dk)
        if due then
          row(g, 'retrying', attempts, finite(due), f[2])
        elseif m and redis.call('ZSCORE', B .. 'r:' .. g, m) then
          row(g, 'waiting', attempts, finite(string.sub(m, 1, 15)), f[2])
        end
      end
    end
  end
  -- the failed-jobs record: its entries of this job, in any group the job had or has
  local dks, names, seen = {}, {}, {}
  for _, list in ipairs({owed, all}) do
    for _, g in ipairs(list) do
      if not seen[g] then
        seen[g] = true
        names[#names + 1] = g
        dks[#dks + 1] = dkey(g, id)
      end
    end
  end
  local newest = nil
  if #dks > 0 then
    local recs = redis.call('HMGET', B .. 'failed', unpack(dks))
    for k, rec in ipairs(recs) do
      if rec and not shown[names[k]] then
        local r = cjson.decode(rec)
        row(names[k], 'failed', finite(r.attempts), -1, r.error)
        if not newest or finite(r.failed_at) > finite(newest.failed_at) then
          newest = r
        end
      end
    end
  end
  local o = #out
  if j[1] then
    out[o + 1] = id
    out[o + 2] = j[1]
    out[o + 3] = j[2] or '0'
    out[o + 4] = j[3] or '0'
    out[o + 5] = j[4] or false
  elseif newest then
    out[o + 1] = id
    out[o + 2] = newest.data
    out[o + 3] = finite(newest.priority)
    out[o + 4] = finite(newest.ts)
    out[o + 5] = type(newest.e) == 'string' and newest.e or false
  else
    return false
  end
  out[o + 6] = #rows / 5
  for k = 1, #rows do
    out[o + 6 + k] = rows[k]
  end
  return true
end
