"""The Redis backend (imports coredis; reached only through ``checkqueue_actors.redis``)."""

from __future__ import annotations

from ._queue import RedisQueue, RedisQueuePlugin
from ._settings import RedisQueueConfig
from ._store import RedisConfigStore

__all__ = ["RedisConfigStore", "RedisQueue", "RedisQueueConfig", "RedisQueuePlugin"]
