"""Where the dashboard finds its queues: a QueueManager, queue objects, or a Redis prefix.

Each source lists queue names, hands out a queue by name (``None`` for a name it
does not know, so that a URL never creates a queue), and says what it can honestly
tell about the consumers of each queue (``Presence``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence, Sized
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast, final

import attrs
import trio

from .._manager import QueueManager
from .._protocols import Queue as QueueProtocol
from .._proxy import QueueProxy

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from .._protocols import Queue
    from ..redis import RedisQueue, RedisQueueConfig

__all__ = ["GroupPresence", "Presence", "RedisSource", "Source", "as_source"]

logger = logging.getLogger("checkqueue_actors.dashboard")


@attrs.frozen
class GroupPresence:
    """What the dashboard knows of one consumer group's consumers."""

    name: str
    consumers_here: int | None = None
    """Consumers registered in the process serving the dashboard (None: it runs none,
    as a dashboard over a Redis prefix)."""
    last_seen_seconds: float | None = None
    """Seconds since a process consuming in the group last said so (Redis only)."""


@attrs.frozen
class Presence:
    """The consumer groups of a queue and the processes known alive."""

    groups: tuple[GroupPresence, ...] = ()
    processes_alive: int | None = None
    """Processes running the queue that heartbeat within their liveness period (Redis;
    the dashboard's own process not counted when it only watches). None: unknown."""


class Source:
    """The queues a dashboard shows (see ``create_app``)."""

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[None]:
        """Open what the source needs for the app's lifetime (the app's lifespan)."""
        yield

    async def queue_names(self) -> list[str]:
        """The names of the queues, sorted."""
        raise NotImplementedError

    async def get_queue(self, name: str) -> Queue[Any] | None:
        """The queue ``name``, or None when the source does not know it."""
        raise NotImplementedError

    async def presence(self, name: str, queue: Queue[Any]) -> Presence:
        """The groups and processes of queue ``name`` (as much as is known)."""
        return await _local_presence(queue, None)


def _unwrap(queue: object) -> object:
    """The queue a ``QueueProxy`` currently runs on, or ``queue`` itself."""
    current = QueueProxy.current_queue_of(queue)
    return queue if current is None else current


async def _local_presence(
    queue: object,
    redis: _RedisReader | None,
    *,
    watching: bool = False,
    exclude: str | None = None,
) -> Presence:
    """Groups from the backend (the in-memory engine, or the Redis group hash) and the
    consumers this process registered (unless it only ``watching``); processes alive
    from Redis."""
    target = _unwrap(queue)
    routers: object = getattr(target, "routers", None)
    here: dict[str, int] | None = None
    if isinstance(routers, Mapping) and not watching:
        here = {}
        items: list[tuple[object, object]] = list(routers.items())  # pyright: ignore[reportUnknownArgumentType]
        for group, router in items:
            consumers: object = getattr(router, "consumers", ())
            here[str(group)] = len(consumers) if isinstance(consumers, Sized) else 0
    names: set[str] = set(here or ())
    engine = getattr(getattr(target, "storage", None), "engine", None)
    if engine is not None:
        names.update(str(group.name) for group in engine.groups)
    seen: dict[str, float] = {}
    processes: int | None = None
    config = getattr(target, "config", None)
    base = getattr(target, "key_base", None)
    if isinstance(base, str) and config is not None:
        reader = redis if redis is not None else _RedisReader(config)
        async with reader.connected():
            seen, processes = await reader.read(base, exclude)
        names.update(seen)
    groups = tuple(
        GroupPresence(
            name,
            None if here is None else here.get(name, 0),
            None if seen.get(name, math.inf) == math.inf else seen[name],
        )
        for name in sorted(names)
    )
    return Presence(groups, processes)


@final
class _ManagerSource(Source):
    def __init__(self, manager: QueueManager) -> None:
        self._manager = manager

    async def queue_names(self) -> list[str]:
        await trio.lowlevel.checkpoint()
        return self._manager.queue_names()

    async def get_queue(self, name: str) -> Queue[Any] | None:
        await trio.lowlevel.checkpoint()
        if name not in self._manager.queue_names():
            return None
        return self._manager.get_queue(name)


@final
class _QueuesSource(Source):
    def __init__(self, queues: Sequence[Queue[Any]]) -> None:
        self._queues = {queue.name: queue for queue in queues}

    async def queue_names(self) -> list[str]:
        await trio.lowlevel.checkpoint()
        return sorted(self._queues)

    async def get_queue(self, name: str) -> Queue[Any] | None:
        await trio.lowlevel.checkpoint()
        return self._queues.get(name)


class _RedisReader:
    """Plain reads of a queue's documented keys (``groups``, ``gseen``, ``procs``)."""

    def __init__(self, config: RedisQueueConfig) -> None:
        from .._backends.redis._clients import make_client
        from .._backends.redis._settings import endpoint_of

        self._config = config
        self._make = make_client
        endpoint = endpoint_of(config)
        self.address, self._secret = endpoint.address, endpoint.password
        self._client: Any = None

    @asynccontextmanager
    async def connected(self) -> AsyncGenerator[None]:
        """Use the open client, or one for the time of the block."""
        if self._client is not None:
            yield
            return
        from .._backends.redis._clients import mapped_errors

        with mapped_errors(self.address, self._secret):
            async with self._make(self._config) as client:
                self._client = client
                try:
                    yield
                finally:
                    self._client = None

    async def enter(self, stack: AsyncExitStack) -> None:
        """Keep one client open until ``stack`` closes."""
        from .._backends.redis._clients import mapped_errors

        with mapped_errors(self.address, self._secret):
            self._client = await stack.enter_async_context(self._make(self._config))

    async def names(self, key_prefix: str) -> list[str]:
        """The queue names recorded under ``key_prefix``."""
        from .._backends.redis._registry import queue_names

        return await queue_names(self._client, key_prefix, self.address, self._secret)

    async def read(self, base: str, exclude: str | None = None) -> tuple[dict[str, float], int]:
        """Seconds since each group was last seen, and the processes alive (but
        ``exclude``, a process id)."""
        from .._backends.redis._clients import mapped_errors

        client = self._client
        with mapped_errors(self.address, self._secret):
            # whole seconds: coredis keeps no more of TIME's reply (a process is taken for
            # alive up to a second after its deadline, before others reap it)
            now = math.floor((await client.time()).timestamp()) * 1000
            groups = await client.hkeys(base + "groups")
            seen_pairs = await client.zrange(base + "gseen", 0, -1, withscores=True)
            procs = await client.zrange(base + "procs", 0, -1, withscores=True)
        seen: dict[str, float] = {_text(name): math.inf for name in groups}
        for pair in seen_pairs:
            member, score = pair[0], pair[1]
            seen[_text(member)] = max(0.0, (now - float(score)) / 1000)
        alive = [p for p in procs if float(p[1]) >= now and _text(p[0]) != exclude]
        return seen, len(alive)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@final
class RedisSource(Source):
    """The queues of one Redis server and key prefix, for ``create_app``.

    The app opens a ``RedisQueue`` per queue it shows (consuming nothing: it only
    heartbeats, and runs the timers any process of the queue may run) when a page
    first asks for it, and stops them all when the app shuts down. Only queues
    recorded under the prefix (every queue records its name when it opens) are
    shown, so a URL never creates a queue.

    Args:
      url: ``redis://`` or ``rediss://`` URL (default: ``config.url``).
      key_prefix: The key prefix of the queues (default: ``config.key_prefix``).
      config: Settings of the queues the dashboard opens: give the workers' own
        (``max_stalls``, ``failed_jobs_max`` and the TLS and ACL settings matter);
        ``group_abandon_seconds`` is forced to ``math.inf``, so that a dashboard never
        removes a group.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        key_prefix: str | None = None,
        config: RedisQueueConfig | None = None,
    ) -> None:
        from ..redis import RedisQueueConfig

        base = config if config is not None else RedisQueueConfig()
        changes: dict[str, Any] = {"group_abandon_seconds": math.inf}
        if url is not None:
            changes["url"] = url
        if key_prefix is not None:
            changes["key_prefix"] = key_prefix
        self.config: RedisQueueConfig = attrs.evolve(base, **changes)
        """The settings of the queues the dashboard opens."""
        self._reader = _RedisReader(self.config)
        self._queues: dict[str, RedisQueue[Any]] = {}
        self._nursery: trio.Nursery | None = None
        self._lock = trio.Lock()

    def __repr__(self) -> str:
        return f"<RedisSource {self.config.url!r} key_prefix={self.config.key_prefix!r}>"

    @property
    def key_prefix(self) -> str:
        """The key prefix of the queues shown."""
        return self.config.key_prefix

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[None]:
        """Keep a client open; stop every queue opened meanwhile at the end."""
        async with AsyncExitStack() as stack:
            await self._reader.enter(stack)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    yield
                finally:
                    self._nursery = None
                    with trio.CancelScope(shield=True):
                        for queue in self._queues.values():
                            await queue.stop(grace_period=0)
                    self._queues.clear()

    async def queue_names(self) -> list[str]:
        """The queue names recorded under the prefix.

        Raises:
          BackendUnavailableError, BackendRefusedError: Redis could not answer.
        """
        return await self._reader.names(self.config.key_prefix)

    async def get_queue(self, name: str) -> Queue[Any] | None:
        """A started ``RedisQueue`` of that name, or None when none was recorded."""
        queue = self._queues.get(name)
        if queue is not None:
            return queue
        if self._nursery is None:
            msg = "the dashboard's lifespan has not started: serve the app with lifespan on"
            raise RuntimeError(msg)
        if name not in await self.queue_names():
            return None
        async with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                from ..redis import RedisQueue

                queue = RedisQueue[Any](name, self.config)
                await self._nursery.start(queue.run)
                self._queues[name] = queue
        return queue

    async def presence(self, name: str, queue: Queue[Any]) -> Presence:
        """Groups from Redis with the time each was last seen, and the processes alive
        other than this one."""
        # this dashboard's own queue heartbeats too: its process id is not counted
        from ..redis import RedisQueue

        own = QueueProxy.current_queue_of(queue)
        return await _local_presence(
            queue,
            self._reader,
            watching=True,
            exclude=own.process_id if isinstance(own, RedisQueue) else None,
        )


def as_source(
    source: QueueManager | Source | str | Sequence[Queue[Any]], key_prefix: str | None
) -> Source:
    """The ``Source`` for what ``create_app`` was given.

    Raises:
      TypeError: for anything else.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, QueueManager):
        return _ManagerSource(source)
    if isinstance(source, str):
        return RedisSource(source, key_prefix=key_prefix)
    queues: list[object] = list(source)
    if not all(isinstance(queue, QueueProtocol) for queue in queues):
        msg = "source must be a QueueManager, a RedisSource, a Redis URL or a sequence of queues"
        raise TypeError(msg)
    return _QueuesSource(cast("list[Queue[Any]]", queues))
