#!lua
-- ARGV: priority, delay_ms, max_queue_size, reserve, extras (every job's timeout and
-- headers as JSON, '' for none), id1, data1 (JSON), id2, data2, ...
-- Stores the jobs whose id is not in the queue yet (nor earlier in this call), all
-- of them or none: nothing is stored unless the new ones, plus `reserve` more
-- (the jobs of the caller's later calls for the same batch), fit in max_queue_size.
-- returns {status, pending, count, skipped...}: 1 stored (count = jobs stored,
-- followed by the positions, from 1, of the jobs skipped), -1 queue full (count = new
-- jobs of this call)
local p, delay, maxq, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local ex = ARGV[5]
local seen, new = {}, 0
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  if not seen[id] then
    seen[id] = true
    if redis.call('EXISTS', B .. 'j:' .. id) == 0 then
      new = new + 1
    end
  end
end
local pend = tonumber(redis.call('GET', B .. 'npend') or '0')
if pend + new + reserve > maxq then
  return {-1, pend, new}
end
local now = now_ms()
local groups, gl = current_groups()
local reply = {1, 0, 0}
local stored = 0
for i = 6, #ARGV, 2 do
  if enqueue_job(ARGV[i], ARGV[i + 1], p, delay, maxq, '', now, groups, gl, ex) == 1 then
    stored = stored + 1
  else
    reply[#reply + 1] = (i - 4) / 2
  end
end
reply[2] = tonumber(redis.call('GET', B .. 'npend') or '0')
reply[3] = stored
return reply
