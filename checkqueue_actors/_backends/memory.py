"""The in-memory backend: InMemoryQueue, its config and its plugin.

The actor tree of one queue::

    InMemoryQueue.run                       (supervisor: owns both nurseries)
    ├── actors nursery  (cancelled by stop(): no new handler starts, timers stop)
    │   ├── SchedulerActor                  (every timer: delays, backoff, recurring, heartbeat)
    │   └── GroupRouterActor x groups       (round-robin within a group)
    └── handlers nursery (cancelled once running handlers have finished)
        └── ConsumerActor workers           (run handlers under the CapacityLimiter)

Public methods change the sans-IO ``QueueEngine`` synchronously and then ring
the actor that must react, so each call takes effect atomically: a same-instant
race (a cancel against a tick) cannot let one more occurrence through.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import attrs
import trio

from .._actors.consumer import ConsumerActor
from .._actors.router import GroupRouterActor
from .._actors.scheduler import SchedulerActor
from .._clock import WallClock
from .._errors import QueueFullError, QueueStoppedError
from .._queue_base import (
    BaseQueue,
    LifeState,
    check_consume_args,
    check_enqueue_args,
    check_enqueue_many_args,
    check_recurring_args,
)
from .._state.cron import CronSchedule, load_zone
from .._state.engine import QueueEngine
from .._validators import finite_float, strict_int

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .._model import Migration, PendingJob, QueueStats, RecurringJobDetails
    from .._protocols import Handler

__all__ = ["InMemoryQueue", "InMemoryQueueConfig", "InMemoryQueuePlugin"]

T = TypeVar("T")


@final
@attrs.frozen
class InMemoryQueueConfig:
    """Settings of the in-memory backend (config version 1).

    Out-of-range values raise ValueError; wrong types raise TypeError.
    """

    concurrency: int = attrs.field(default=10, validator=strict_int(1, 100))
    """Handlers running at once per queue (1..100)."""
    max_queue_size: int = attrs.field(default=10_000, validator=strict_int(1))
    """Pending jobs at most; ``enqueue`` beyond it raises QueueFullError."""
    delay_multiplier: float = attrs.field(default=1.0, validator=finite_float(gt=0, le=1))
    """Scales start_delay, retry backoff and interval_seconds (0 < m <= 1); for tests."""
    heartbeat_interval_ms: int = attrs.field(default=5000, validator=strict_int(0))
    """How often the scheduler re-checks due work and the wall clock; 0 disables."""


@final
class InMemoryQueue(BaseQueue[T], Generic[T]):
    """A queue whose state lives in this process (the embedded default backend).

    Start it with ``async with queue:`` or ``await nursery.start(queue.run)``.
    Pending jobs are lost when the process ends; ``export_pending`` hands them
    over to another backend after ``stop()``.
    """

    def __init__(self, name: str, config: InMemoryQueueConfig | None = None) -> None:
        super().__init__(name)
        config = _require_config(config)
        self._config = config
        self.concurrency = config.concurrency
        self.queue_name = name
        self.queue: object = self
        self.limiter = trio.CapacityLimiter(config.concurrency)
        self._clock: WallClock | None = None
        self.engine = QueueEngine(
            max_queue_size=config.max_queue_size,
            delay_multiplier=config.delay_multiplier,
            clock=_UnstartedClock(),
        )
        self.stopping = False
        self.routers_waiting = 0
        self._actors: trio.Nursery | None = None
        self._handlers: trio.Nursery | None = None
        self._drained: trio.Event | None = None

    @property
    def config(self) -> InMemoryQueueConfig:
        """The queue's config."""
        return self._config

    @property
    def handlers_nursery(self) -> trio.Nursery:
        """Where consumer workers run (only while running)."""
        assert self._handlers is not None
        return self._handlers

    def handler_finished(self) -> None:
        """A worker let go of a delivery; wake stop() when the last one has finished."""
        if self.stopping and self.engine.running == 0 and self._drained is not None:
            self._drained.set()

    # -- lifetime -----------------------------------------------------------------------------

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        clock = WallClock()
        self._clock = clock
        self.engine.clock = clock
        heartbeat = self._config.heartbeat_interval_ms / 1000
        async with trio.open_nursery() as handlers:
            self._handlers = handlers
            async with trio.open_nursery() as actors:
                self._actors = actors
                await actors.start(SchedulerActor(self.engine, clock, heartbeat).run)
                for group in self.engine.groups:  # none yet, but keep the invariant explicit
                    actors.start_soon(GroupRouterActor(self, group).run)
                self._mark_started(task_status)
                await self._stop_requested.wait()
                self._mark_stopping()
                self.stopping = True
                actors.cancel_scope.cancel(reason=f"queue {self.name!r} stopping")
            self._actors = None
            # no router or timer runs now; let running handlers finish
            while self.engine.running > 0:
                self._drained = trio.Event()
                await self._drained.wait()
            handlers.cancel_scope.cancel(reason=f"queue {self.name!r} stopped")

    # -- producing ----------------------------------------------------------------------------

    async def _admit(self, *, allow_stopping: bool) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        state = self._state
        if state is LifeState.RUNNING or (allow_stopping and state is LifeState.STOPPING):
            return
        await self._check_open(allow_stopping=allow_stopping)

    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
    ) -> str:
        """Add a job and return its id.

        Args:
          data: The payload (any Python value; it is not copied).
          priority: Higher runs first.
          start_delay: Seconds (trio clock, scaled by ``delay_multiplier``) before the
            job becomes ready.
          job_id: Dedup key: while a job with this id is anywhere in the queue
            (waiting, delayed, retrying or running in any group), the call does nothing
            and returns the id.
        Returns:
          The job id (a fresh uuid4 string unless ``job_id`` was given).
        Raises:
          ValueError: for a non-int priority, or a negative or non-finite delay.
          QueueFullError: when ``max_queue_size`` jobs are pending; nothing is stored.
          QueueStoppedError: after the queue stopped.
        Cancellation:
          Atomic. Once the queue runs, the job is stored at once, without yielding
          to other tasks, so a burst of enqueues is dispatched in priority order.
        """
        priority, delay, checked_id = check_enqueue_args(priority, start_delay, job_id)
        await self._admit(allow_stopping=True)
        the_id = checked_id if checked_id is not None else str(uuid.uuid4())
        now = trio.current_time()
        assert self._clock is not None
        self.engine.enqueue(
            job_id=the_id,
            data=data,
            priority=priority,
            delay=delay * self._config.delay_multiplier,
            now=now,
            timestamp=self._clock.to_wall(now),
        )
        return the_id

    async def enqueue_many(
        self,
        items: Iterable[T],
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_ids: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Add several jobs at once, all or nothing, and return their ids in order.

        The same as calling ``enqueue`` once per item with the same ``priority`` and
        ``start_delay`` (and the matching entry of ``job_ids``), except that every
        argument is checked and the room is counted before anything is stored: if one
        id is invalid or the jobs do not all fit, nothing is stored. An id already in
        the queue, or repeated within ``job_ids``, is ignored as ``enqueue`` does, and
        its id is returned in its place.

        Args:
          items: The payloads.
          priority: Higher runs first (for every item).
          start_delay: Seconds before the items become ready (for every item).
          job_ids: Dedup keys, one per item (``None`` for a fresh uuid4).
        Returns:
          The job ids, one per item.
        Raises:
          ValueError: for a bad priority, delay or id, or ``job_ids`` of another length.
          QueueFullError: when the new jobs would not all fit in ``max_queue_size``.
          QueueStoppedError: after the queue stopped.
        Cancellation:
          Atomic, like ``enqueue``: the jobs are stored without yielding.

        .. versionadded:: 0.1.0
        """
        datas, checked_priority, delay, ids = check_enqueue_many_args(
            items, priority, start_delay, job_ids
        )
        await self._admit(allow_stopping=True)
        engine = self.engine
        fresh = [job_id if job_id is not None else str(uuid.uuid4()) for job_id in ids]
        new_ids = {job_id for job_id in fresh if engine.get(job_id) is None}
        if engine.pending + len(new_ids) > engine.max_queue_size:
            msg = (
                f"queue is full: {engine.pending} jobs pending, {len(new_ids)} more do not fit "
                f"(max_queue_size={engine.max_queue_size})"
            )
            raise QueueFullError(msg)
        now = trio.current_time()
        assert self._clock is not None
        timestamp = self._clock.to_wall(now)
        scaled = delay * self._config.delay_multiplier
        for job_id, data in zip(fresh, datas, strict=True):
            engine.enqueue(
                job_id=job_id,
                data=data,
                priority=checked_priority,
                delay=scaled,
                now=now,
                timestamp=timestamp,
            )
        return fresh

    async def consume(
        self, handler: Handler[T], *, consumer_group: str, max_retries: int = 3
    ) -> None:
        """Register one consumer in ``consumer_group``.

        Consumers of one group compete (round-robin, retries included); every group
        gets every job enqueued after it exists. The first group ever registered also
        gets the jobs enqueued before any group existed.

        Raises:
          ValueError: for a bad argument, or a ``max_retries`` other than the group's.
          QueueStoppedError: once the queue is stopping.
        """
        check_consume_args(handler, consumer_group, max_retries)
        await self._admit(allow_stopping=False)
        consumer = ConsumerActor(handler, self)
        known = {group.name for group in self.engine.groups}
        group = self.engine.add_consumer(consumer_group, max_retries, consumer)
        consumer.group = group
        if consumer_group not in known:
            assert self._actors is not None
            self._actors.start_soon(GroupRouterActor(self, group).run)

    # -- recurring ----------------------------------------------------------------------------

    async def schedule_recurring(
        self,
        data: T,
        *,
        job_id: str,
        interval_seconds: float | None = None,
        cron_pattern: str | None = None,
        timezone: str | None = None,
        start_delay: float | None = None,
        priority: int = 0,
    ) -> str:
        """Declare a recurring job, or replace the one with this ``job_id``.

        Interval jobs fire after ``start_delay`` (default at once), then on a fixed
        grid every ``interval_seconds`` whatever the runs take (runs may overlap).
        Cron jobs fire on the wall clock in ``timezone`` (default UTC). Declaring the
        same job again with identical arguments changes nothing (``start_delay`` is
        not compared); with different ones it replaces the schedule and drops
        occurrences no group has started.

        Returns:
          ``job_id``.
        Raises:
          ValueError: unless exactly one of ``interval_seconds`` (finite, > 0) and
            ``cron_pattern`` is given, or for a bad ``start_delay`` or priority.
          InvalidScheduleError: for an invalid cron pattern or unknown timezone.
          QueueStoppedError: after the queue stopped.
        """
        checked_id, interval, pattern, delay, checked_priority, zone = check_recurring_args(
            job_id, interval_seconds, cron_pattern, start_delay, priority, timezone
        )
        cron = CronSchedule(pattern, zone) if pattern is not None else None
        if cron is None:
            load_zone(zone)  # an unknown timezone is an error even where unused
        await self._admit(allow_stopping=True)
        self.engine.schedule(
            job_id=checked_id,
            data=data,
            priority=checked_priority,
            interval_seconds=interval,
            cron=cron,
            start_delay=delay,
            now=trio.current_time(),
        )
        return checked_id

    async def cancel_recurring(self, job_id: str) -> None:
        """Stop future occurrences and drop those no group has started; unknown ids are a no-op."""
        await self._admit(allow_stopping=True)
        self.engine.cancel_schedule(job_id)

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs."""
        await self._read()
        return self.engine.schedule_ids()

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of an active recurring job, ``None`` when unknown or cancelled."""
        await self._read()
        return self.engine.schedule_details(job_id)

    # -- monitoring ---------------------------------------------------------------------------

    async def _read(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._started.is_set():
            await self._wait_started()

    async def get_in_flight_count(self) -> int:
        """Handlers running now."""
        await self._read()
        return self.engine.running

    async def get_stats(self) -> QueueStats:
        """Counters: pending jobs, running handlers, lifetime completed/failed deliveries."""
        await self._read()
        return self.engine.stats(consumer_groups=sum(1 for _ in self.engine.groups))

    async def test_connection(self) -> None:
        """Always succeeds: the state lives in this process."""
        await trio.lowlevel.checkpoint()

    async def export_pending(self) -> list[PendingJob[T]]:
        """Take out every job still pending (ready, delayed or in backoff) of a stopped queue.

        Returns them in priority, then enqueue order, with ``remaining_delay``
        measured on trio's clock; they are removed from this queue.

        Raises:
          RuntimeError: while the queue has not stopped.
        """
        await trio.lowlevel.checkpoint()
        if self._state is not LifeState.STOPPED:
            msg = f"export_pending() needs a stopped queue; call stop() on {self.name!r} first"
            raise RuntimeError(msg)
        if self._clock is None:
            return []
        return self.engine.export_pending(trio.current_time())


def _require_config(config: object) -> InMemoryQueueConfig:
    if config is None:
        return InMemoryQueueConfig()
    if not isinstance(config, InMemoryQueueConfig):
        msg = f"config must be an InMemoryQueueConfig, not {config!r}"
        raise TypeError(msg)
    return config


class _UnstartedClock:
    """Stands in for the wall clock until the queue starts (nothing needs it before)."""

    def to_wall(self, trio_time: float) -> Any:
        msg = "the queue has not started"
        raise QueueStoppedError(msg)

    def to_trio(self, wall: Any) -> float:
        msg = "the queue has not started"
        raise QueueStoppedError(msg)


@final
class InMemoryQueuePlugin:
    """The in-memory backend as a plugin (id ``"memory"``)."""

    id: str = "memory"
    display_name: str = "In-memory"
    description: str | None = (
        "Embedded queue for one process: fast, no server; pending jobs do not survive a restart"
    )
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> InMemoryQueue[Any]:
        """A new, unstarted in-memory queue."""
        return InMemoryQueue(name, config)
