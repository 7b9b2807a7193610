-- The start-up check: runs where the queue's scripts run, reads and writes (a
-- no-op) the queue's keys and reads the server's clock, so a user without the
-- permissions, or a read-only replica, fails here; it frees no memory and takes
-- none, so a full server passes. No flags line: it runs on any server.
-- returns the server's version number (0 before Redis 7, which has no script flags)
redis.call('EXISTS', B .. 'groups')
redis.call('DEL', B .. 'probe')
now_ms()
return redis.REDIS_VERSION_NUM or 0
