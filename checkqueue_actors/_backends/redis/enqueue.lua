#!lua
-- ARGV: id, data (JSON), priority, delay_ms, max_queue_size, extras (the job's timeout
-- and headers as JSON, '' for none)[, groups (JSON list), max_retries of a group
-- created here]
-- returns {status, pending}: 1 stored, 0 duplicate id, -1 queue full
-- With groups (a job moved from another backend, which some groups had finished),
-- the job is stored for those groups only. A listed group that does not exist yet
-- is created (given max_retries until a consumer registers it with its own), as a
-- durable group waiting for its consumers; unless no group exists at all: the job
-- then waits, as any job enqueued then, for the first group to come.
local now = now_ms()
local groups, gl
if ARGV[7] and redis.call('HLEN', B .. 'groups') > 0 then
  -- every check before the first write: a refused job creates no group
  if redis.call('EXISTS', B .. 'j:' .. ARGV[1]) == 1 then
    return {0, tonumber(redis.call('GET', B .. 'npend') or '0')}
  end
  local pend = tonumber(redis.call('GET', B .. 'npend') or '0')
  if pend + 1 > tonumber(ARGV[5]) then
    return {-1, pend}
  end
  groups = cjson.decode(ARGV[7])
  for _, g in ipairs(groups) do
    if redis.call('HSETNX', B .. 'groups', g, ARGV[8]) == 1 then
      redis.call('ZADD', B .. 'gseen', now, g)
    end
  end
  gl = cjson.encode(groups)
end
local status, pend = enqueue_job(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), '', now, groups, gl, ARGV[6])
if pend == nil then
  pend = tonumber(redis.call('GET', B .. 'npend') or '0')
end
return {status, pend}
