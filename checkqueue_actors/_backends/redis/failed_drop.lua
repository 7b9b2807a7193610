#!lua flags=allow-oom
-- ARGV: 'all' | 'group', group | 'keys', dkey...   returns how many entries were removed
local mode = ARGV[1]
if mode == 'all' then
  local n = redis.call('ZCARD', B .. 'failedx')
  redis.call('DEL', B .. 'failed', B .. 'failedx')
  return n
end
local n = 0
if mode == 'group' then
  local prefix = dkey(ARGV[2], '')
  local start, chunk = 0, 500
  while true do
    local keys = redis.call('ZRANGE', B .. 'failedx', start, start + chunk - 1)
    if #keys == 0 then
      break
    end
    local removed = 0
    for _, dk in ipairs(keys) do
      if string.sub(dk, 1, #prefix) == prefix then
        n = n + redis.call('HDEL', B .. 'failed', dk)
        redis.call('ZREM', B .. 'failedx', dk)
        removed = removed + 1
      end
    end
    start = start + chunk - removed
  end
  return n
end
for i = 2, #ARGV do
  local dk = ARGV[i]
  n = n + redis.call('HDEL', B .. 'failed', dk)
  redis.call('ZREM', B .. 'failedx', dk)
end
return n
