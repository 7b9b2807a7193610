"""RedisQueue: the runtime over a ``RedisStorage`` (see docs/redis.md), and its plugin.

Every public method of the queue is the runtime's (``_actors/queue.py``), the
same for every backend (the failed-jobs methods included); what is Redis's own
is the storage (``_storage.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

from ..._actors.queue import RuntimeQueue
from ..._state.policy import check_name
from ._settings import RedisQueueConfig, endpoint_of, require_config
from ._storage import RedisStorage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..._model import Migration

__all__ = ["RedisQueue", "RedisQueuePlugin"]

T = TypeVar("T")


@final
class RedisQueue(RuntimeQueue[T], Generic[T]):
    """A queue whose state lives in Redis, shared by every process using the same
    server, ``key_prefix`` and queue name.

    Start it with ``async with queue:`` or ``await nursery.start(queue.run)``.
    Payloads are JSON values, or attrs instances of ``payload_type`` converted
    with the package's cattrs converter; never pickled. Delays, backoff, leases
    and recurring ticks are judged on the server's clock.
    """

    def __init__(
        self,
        name: str,
        config: RedisQueueConfig | None = None,
        *,
        payload_type: type | None = None,
        instruments: Sequence[object] = (),
    ) -> None:
        """
        Raises:
          ValueError: for a name breaking the rules of ``policy.check_name``.
          TypeError: ``config`` is not a RedisQueueConfig, or ``payload_type`` is not an
            attrs class.
        """
        # the base class checks it too, but the storage names its keys after it first
        check_name("queue name", name)
        config = require_config(config)
        self._redis = RedisStorage(name, config, payload_type)
        super().__init__(
            name,
            self._redis,
            concurrency=config.concurrency,
            delay_multiplier=config.delay_multiplier,
            instruments=instruments,
        )

    @property
    def config(self) -> RedisQueueConfig:
        """The queue's config."""
        return self._redis.config

    @property
    def key_base(self) -> str:
        """The start of every key of this queue, ``"<prefix>:{<name>}:"``."""
        return self._redis.base

    @property
    def process_id(self) -> str:
        """This queue object's id among the processes alive in Redis (a fresh one per
        object): tools that count the processes serving a queue leave their own out
        with it."""
        return self._redis.process_id


@final
class RedisQueuePlugin:
    """The Redis backend as a plugin (id ``"redis"``)."""

    id: str = "redis"
    display_name: str = "Redis"
    description: str | None = (
        "Durable queue shared by many processes through a Redis server: leases, "
        "crash recovery, consumer groups across processes"
    )
    config_version: int = 1
    config_type: type[RedisQueueConfig] = RedisQueueConfig
    migrations: Sequence[Migration] = ()

    def create_queue(self, name: str, config: RedisQueueConfig) -> RedisQueue[Any]:
        """A new, unstarted Redis queue."""
        return RedisQueue(name, config)

    def storage_location(self, config: RedisQueueConfig) -> str:
        """Where queues of ``config`` keep their keys: server, database and key prefix
        (no password). The manager refuses to switch between two configs of one
        location, whose old and new queues would run on the same keys at once."""
        endpoint = endpoint_of(config)
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        where = f"redis server {host}:{endpoint.port} database {endpoint.db}"
        return f"{where}, key_prefix {config.key_prefix!r}"
