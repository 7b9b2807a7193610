#!lua flags=no-writes
-- ARGV: live_ms.  returns {pending, processing, completed, failed, live groups, now_ms}
local now = now_ms()
local s = redis.call('HMGET', B .. 'stats', 'completed', 'failed')
return {
  tonumber(redis.call('GET', B .. 'npend') or '0'),
  redis.call('ZCARD', B .. 'active'),
  tonumber(s[1] or '0'),
  tonumber(s[2] or '0'),
  redis.call('ZCOUNT', B .. 'gseen', now - tonumber(ARGV[1]), '+inf'),
  now,
}
