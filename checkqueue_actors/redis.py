"""The Redis backend: durable queues shared by many processes (needs ``coredis``).

Importing ``checkqueue_actors`` never imports coredis; this module does. See
``docs/redis.md`` for the configuration, the key layout and the guarantees.
"""

from __future__ import annotations

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
from ._backends.redis._registry import list_queue_names as list_queue_names
from ._model import FailedJob as FailedJob

__all__ = [
    "RedisConfigStore",
    "RedisQueue",
    "RedisQueueConfig",
    "RedisQueuePlugin",
    "list_queue_names",
]
# ``FailedJob`` stays importable from here: it is ``checkqueue_actors.FailedJob`` (whose
# ``id`` and ``group`` still name the job and the group), no longer a class of its own.


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("checkqueue_actors._backends"):
            obj.__module__ = __name__


_fix_module_names()
