#!lua flags=no-writes
-- ARGV: INFO section...  Runs INFO on the node holding the queue (on a cluster, the
-- one whose settings matter). returns one entry per section: its text, or the error
-- text (e.g. NOPERM for a user without +info) prefixed with "!".
local out = {}
for i = 1, #ARGV do
  local r = redis.pcall('INFO', ARGV[i])
  if type(r) == 'table' and r.err then
    out[i] = '!' .. r.err
  else
    out[i] = r
  end
end
return out
