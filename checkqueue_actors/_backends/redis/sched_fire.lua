-- ARGV: id, expected_ms, occurrence id, cron_next_ms (ignored for interval), max_queue_size
-- Fires one tick of a recurring job exactly once across processes: the tick is
-- taken only if the schedule's next due time is still expected_ms (compare and
-- set), then the occurrence is enqueued and the next tick stored.
-- returns {fired (1/0), enqueue status, next_ms}
local id, expected = ARGV[1], tonumber(ARGV[2])
local sk = B .. 's:' .. id
local cur = redis.call('ZSCORE', B .. 'snext', id)
if not cur or tonumber(cur) ~= expected then
  return {0, 0, -1}
end
local now = now_ms()
if now < expected then
  return {0, 0, expected}
end
local s = redis.call('HMGET', sk, 'spec', 'base', 'step')
local step = tonumber(s[3])
local nxt
if step > 0 then
  local base = tonumber(s[2])
  -- a fixed grid from base; missed ticks are coalesced into the one fired now
  nxt = base + (math.floor((now - base) / step) + 1) * step
  if nxt <= now then nxt = nxt + step end
else
  nxt = tonumber(ARGV[4])
end
redis.call('ZADD', B .. 'snext', nxt, id)
local spec = cjson.decode(s[1])
local status = enqueue_job(ARGV[3], spec.data, spec.priority, 0, tonumber(ARGV[5]), id, now)
return {1, status, nxt}
