-- ARGV: id, data (JSON), priority, delay_ms, max_queue_size
-- returns {status, pending}: 1 stored, 0 duplicate id, -1 queue full
local now = now_ms()
local status, pend = enqueue_job(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), '', now)
if pend == nil then
  pend = tonumber(redis.call('GET', B .. 'npend') or '0')
end
return {status, pend}
