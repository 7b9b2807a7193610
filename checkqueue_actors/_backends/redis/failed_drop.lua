#!lua flags=allow-oom
-- ARGV: dkey...  (none: drop the whole record).  returns how many entries were removed
if #ARGV == 0 then
  local n = redis.call('ZCARD', B .. 'failedx')
  redis.call('DEL', B .. 'failed', B .. 'failedx')
  return n
end
local n = 0
for _, dk in ipairs(ARGV) do
  n = n + redis.call('HDEL', B .. 'failed', dk)
  redis.call('ZREM', B .. 'failedx', dk)
end
return n
