#!lua flags=no-writes
-- The server's time in ms, on the node holding the queue (on a cluster, the clock
-- every other script of this queue reads).
return now_ms()
