"""The Redis backend: durable queues shared by many processes (needs ``coredis``).

Importing ``checkqueue_actors`` never imports coredis; this module does. See
``docs/redis.md`` for the configuration, the key layout and the guarantees.
"""

from __future__ import annotations

from ._backends.redis import (
    FailedJob as FailedJob,
)
from ._backends.redis import (
    RedisConfigStore as RedisConfigStore,
)
from ._backends.redis import (
    RedisQueue as RedisQueue,
)
from ._backends.redis import (
    RedisQueueConfig as RedisQueueConfig,
)
from ._backends.redis import (
    RedisQueuePlugin as RedisQueuePlugin,
)

__all__ = ["FailedJob", "RedisConfigStore", "RedisQueue", "RedisQueueConfig", "RedisQueuePlugin"]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("checkqueue_actors._backends"):
            obj.__module__ = __name__


_fix_module_names()
