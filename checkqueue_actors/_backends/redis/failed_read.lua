#!lua flags=no-writes
-- ARGV: limit, group ('' for every group), cursor ('' to start, else the one a call
-- before returned), examine
-- The newest `limit` entries of the failed-jobs record (JSON texts), newest first; of
-- that group only when one is given. A call reads at most `examine` entries of the
-- record's index (each group's entries lie among the others'): one that reaches it
-- returns where it stopped (see cursor_at), and the next call goes on from there.
-- returns the cursor ('' when the list is complete), then the entries
local limit, group, cursor, examine = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
if not (limit and group and cursor and examine and examine >= 1) then
  error('failed_read: bad arguments')
end
local k = B .. 'failedx'
local prefix = group ~= '' and dkey(group, '') or ''
local out = {''}
local start = resume_rank(k, true, cursor)
local examined, last = 0, nil
while #out - 1 < limit do
  if examined >= examine then
    out[1] = cursor_at(k, last)
    break
  end
  local keys = redis.call('ZREVRANGE', k, start, start + math.min(500, examine - examined) - 1)
  if #keys == 0 then
    break
  end
  for _, dk in ipairs(keys) do
    examined, last = examined + 1, dk
    if string.sub(dk, 1, #prefix) == prefix then
      local rec = redis.call('HGET', B .. 'failed', dk)
      if rec then
        out[#out + 1] = rec
        if #out - 1 >= limit then
          break
        end
      end
    end
  end
  start = start + #keys
end
return out
