#!lua flags=allow-oom
-- ARGV: id.  Cancels a recurring job and drops its occurrences no group has started.
local id = ARGV[1]
local sk = B .. 's:' .. id
if redis.call('EXISTS', sk) == 0 then
  return 0
end
for _, oid in ipairs(redis.call('SMEMBERS', B .. 'so:' .. id)) do
  local jk = B .. 'j:' .. oid
  if not started(jk) then
    unqueue(jk, oid)
  end
end
redis.call('DEL', sk)
redis.call('ZREM', B .. 'snext', id)
return 1
