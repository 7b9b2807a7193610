#!lua flags=allow-oom
-- ARGV: 'all' | 'group', group, cursor, examine | 'keys', dkey...
-- Removes entries of the failed-jobs record: all of them (UNLINK: Redis frees the
-- memory in the background), a group's, or the given ones. For a group, a call reads at
-- most `examine` entries of the record's index (oldest first) and returns where it
-- stopped (see cursor_at); the next call goes on from there.
-- returns how many entries were removed, then for a group 1 and the cursor to go on
-- from when some entries are left to read, else 0
local mode = ARGV[1]
local fk, k = B .. 'failed', B .. 'failedx'
if mode == 'all' then
  local n = redis.call('ZCARD', k)
  redis.call('UNLINK', fk, k)
  return {n}
end
local n = 0
if mode == 'group' then
  local prefix, examine = dkey(ARGV[2], ''), tonumber(ARGV[4])
  if not (examine and examine >= 1) then
    error('failed_drop: bad arguments')
  end
  local start = resume_rank(k, false, ARGV[3])
  local examined, last = 0, nil
  while examined < examine do
    local keys = redis.call('ZRANGE', k, start, start + math.min(500, examine - examined) - 1)
    if #keys == 0 then
      return {n, 0}
    end
    local removed = 0
    for _, dk in ipairs(keys) do
      examined = examined + 1
      if string.sub(dk, 1, #prefix) == prefix then
        n = n + redis.call('HDEL', fk, dk)
        redis.call('ZREM', k, dk)
        removed = removed + 1
      else
        last = dk
      end
    end
    start = start + #keys - removed
  end
  -- on after the last entry kept, or from the same place when every entry read was
  -- the group's (removed)
  return {n, 1, last and cursor_at(k, last) or ARGV[3]}
end
for i = 2, #ARGV do
  local dk = ARGV[i]
  n = n + redis.call('HDEL', fk, dk)
  redis.call('ZREM', k, dk)
end
return {n}
