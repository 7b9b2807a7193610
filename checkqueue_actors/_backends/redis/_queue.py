"""RedisQueue: the runtime over a ``RedisStorage`` (see docs/redis.md), and its plugin.

Every public method of the queue is the runtime's (``_actors/queue.py``), the
same for every backend; what is Redis's own is the storage
(``_storage.py``) and the failed-jobs record, read and changed here through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final

from ..._actors.queue import RuntimeQueue
from ..._state.policy import ArgumentTypeError, check_job_id, check_name, shown
from ._failed import FailedJob
from ._settings import RedisQueueConfig, endpoint_of, require_config
from ._storage import RedisStorage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..._model import Migration

__all__ = ["FailedJob", "RedisQueue", "RedisQueuePlugin"]

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

    # -- the failed-jobs record ---------------------------------------------------------------

    async def get_failed_jobs(self, limit: int = 100) -> list[FailedJob]:
        """The most recent failed deliveries (newest first), at most ``limit``.

        The record keeps the last ``failed_jobs_max`` failures of the queue, one
        entry per job and group.

        Raises:
          ValueError: for a ``limit`` that is not an int >= 0 (a ``TypeError`` too for
            a non-int).
          BackendUnavailableError: Redis cannot be reached.
        """
        if type(limit) is not int:
            msg = f"limit must be an int >= 0, not {shown(limit)}"
            raise ArgumentTypeError(msg)
        if limit < 0:
            msg = f"limit must be an int >= 0, not {shown(limit)}"
            raise ValueError(msg)
        await self._wait_started()
        return await self._redis.failed_jobs(limit)

    async def retry_failed_job(self, job_id: str, consumer_group: str) -> bool:
        """Give a failed delivery a fresh start (attempts 0) in its group.

        Returns:
          True when it was requeued; False when no such failed entry exists (or the
          job is already back in that group).
        Raises:
          ValueError: the group no longer exists, or an id or group name breaks the
            rules of ``policy.check_name``.
          BackendUnavailableError: Redis cannot be reached.
        """
        check_job_id(job_id, required=True)
        check_name("consumer_group", consumer_group)
        await self._wait_started()
        status = await self._redis.retry_failed(job_id, consumer_group)
        if status < 0:
            msg = f"consumer group {consumer_group!r} no longer exists"
            raise ValueError(msg)
        return status == 1

    async def drop_failed_jobs(self, entries: Sequence[tuple[str, str]] | None = None) -> int:
        """Remove entries ``(job_id, consumer_group)`` from the failed-jobs record (all if None).

        Returns:
          How many entries were removed.
        Raises:
          ValueError: for an entry that is not a pair of a valid job id and group name.
          BackendUnavailableError: Redis cannot be reached.
        """
        if entries is not None:
            entries = [_failed_entry(entry) for entry in entries]
        await self._wait_started()
        return await self._redis.drop_failed(entries)


def _failed_entry(entry: object) -> tuple[str, str]:
    shown_entry = shown(entry)
    pair = cast("Sequence[object]", entry) if isinstance(entry, tuple | list) else ()
    if len(pair) != 2:
        msg = f"an entry must be a pair (job_id, consumer_group), not {shown_entry}"
        raise ArgumentTypeError(msg)
    job_id, group = pair
    checked = check_job_id(job_id, required=True)
    assert checked is not None
    return checked, check_name("consumer_group", group)


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
