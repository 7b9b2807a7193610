#!lua flags=no-writes
-- ARGV: limit, [group].  returns the newest `limit` entries of the failed-jobs record
-- (JSON texts), newest first; of that group only when one is given
local limit = tonumber(ARGV[1])
local prefix = ''
if ARGV[2] then
  prefix = dkey(ARGV[2], '')
end
local out = {}
local start, chunk = 0, 500
while #out < limit do
  local keys = redis.call('ZREVRANGE', B .. 'failedx', start, start + chunk - 1)
  if #keys == 0 then
    break
  end
  for _, dk in ipairs(keys) do
    if string.sub(dk, 1, #prefix) == prefix then
      local rec = redis.call('HGET', B .. 'failed', dk)
      if rec then
        out[#out + 1] = rec
        if #out >= limit then
          break
        end
      end
    end
  end
  start = start + chunk
end
return out
