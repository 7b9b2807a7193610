#!lua
-- ARGV: id, expected_ms, occurrence id, next_ms, max_queue_size
-- Fires one tick of a recurring job exactly once across processes: the tick is
-- taken only if the schedule's next due time is still expected_ms (compare and
-- set); then the next tick (computed by the caller) is stored and the occurrence
-- enqueued.
-- returns {fired (1/0), enqueue status, the schedule's next tick ms or -1}
local id, expected, nxt = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local cur = redis.call('ZSCORE', B .. 'snext', id)
if not cur or tonumber(cur) ~= expected then
  return {0, 0, tonumber(cur or '-1')}
end
local now = now_ms()
if now < expected then
  return {0, 0, expected}
end
local spec = cjson.decode(redis.call('HGET', B .. 's:' .. id, 'spec'))
redis.call('ZADD', B .. 'snext', nxt, id)
local status = enqueue_job(ARGV[3], spec.data, spec.priority, 0, tonumber(ARGV[5]), id, now)
return {1, status, nxt}
