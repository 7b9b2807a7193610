"""The in-memory backend: its storage (the sans-IO engine), InMemoryQueue, config and plugin.

``MemoryStorage`` adapts the ``QueueEngine`` to the storage protocol: each call
changes the engine synchronously (so it takes effect atomically: a same-instant
race, a cancel against a tick, cannot let one more occurrence through), reads
what the engine says happened, and wakes whoever waits for it: the router of a
group that got ready work, the scheduler when a timer earlier than the one it
sleeps on was added. ``InMemoryQueue`` is the runtime over that storage.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import attrs
import trio

from .._actors.mailbox import Doorbell
from .._actors.queue import RuntimeQueue
from .._clock import WallClock
from .._errors import QueueStoppedError
from .._model import NO_HEADERS
from .._state import inspection
from .._state.engine import QueueEngine
from .._state.failed import RETRY_DONE
from .._storage import CancelReport, ClaimTicket, PauseState, ReapReport, Settle
from .._validators import finite_float, strict_int

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .._model import (
        FailedJob,
        JobInfo,
        JobState,
        Migration,
        PendingJob,
        QueueJob,
        QueueStats,
        RecurringJobDetails,
    )
    from .._state.engine import MemoryDelivery
    from .._storage import Delivery, NewJob, Outcome, ScheduleSpec

__all__ = ["InMemoryQueue", "InMemoryQueueConfig", "InMemoryQueuePlugin", "MemoryStorage"]

logger = logging.getLogger("checkqueue_actors")

_ACK = Settle.ACK

T = TypeVar("T")


def _heartbeat_floor(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if 0 < value < 10:
        msg = f"{attribute.name} must be 0 (off) or at least 10 ms, not {value!r}"
        raise ValueError(msg)


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
    heartbeat_interval_ms: int = attrs.field(
        default=5000, validator=[strict_int(0, 86_400_000), _heartbeat_floor]
    )
    """How often the scheduler re-checks due work and the wall clock (10 ms .. 1 day);
    0 disables."""
    max_failed_jobs: int = attrs.field(default=1000, validator=strict_int(0, 10_000_000))
    """Size of the failed-jobs record (``get_failed_jobs``), at most 10 million: the
    newest failures are kept, the oldest dropped; 0 keeps none."""


@final
class _Waiting:
    """The state of a wait claim until ``receive_claim`` has waited (see ``send_wait_claim``)."""

    __slots__ = ("interrupted", "scope", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.interrupted = False
        self.scope = trio.CancelScope(shield=True)
        """The wait's own scope: only ``interrupt_wait`` ends it early (as on a backend,
        where the wait runs on the server, the caller's cancellation does not)."""


@final
class MemoryStorage:
    """The in-memory storage: a ``QueueEngine`` plus the wake-ups of the actors waiting on it.

    It lives in this process, so every method completes without yielding, and the
    runtime calls the synchronous ones (``enqueue_nowait``, ``claim_nowait``,
    ``settle_nowait``) on its hot paths. No leases: a delivery lives as long as the
    process, and a hard cancel gives it back at once.
    """

    claim_depth = 1
    lease_seconds: float | None = None
    reap_seconds: float | None = None
    # math.inf: every change is made in this process, which rings the router itself
    work_poll_seconds = math.inf
    wait_claims = True

    def __init__(self, name: str, config: InMemoryQueueConfig) -> None:
        self.heartbeat_seconds = (
            config.heartbeat_interval_ms / 1000 if config.heartbeat_interval_ms else None
        )
        self.engine = QueueEngine(  # (the setter binds its hot methods)
            name=name,
            max_queue_size=config.max_queue_size,
            clock=_UnstartedClock(),
            max_failed_jobs=config.max_failed_jobs,
        )
        self._clock: WallClock | None = None
        self._bells: dict[str, Doorbell] = {}
        """One doorbell per group's router (a ring left over wakes it once for nothing)."""
        self._sleepers: dict[str, Doorbell] = {}
        """The doorbells of the routers waiting for work now, by group."""
        self._timer_bell = Doorbell()
        self._armed = math.inf
        """The deadline the scheduler sleeps until (-inf while it is awake: it will look)."""

    @property
    def engine(self) -> QueueEngine:
        """The queue's state (replaceable: the conformance kit's own tests swap in
        faulty engines)."""
        return self._engine

    @engine.setter
    def engine(self, engine: QueueEngine) -> None:
        self._engine = engine
        # the engine's own methods, bound: a worker chaining jobs calls them once per
        # job, where a wrapper's frame would cost about 50 ns each time
        self.claim_one_nowait: Callable[[str], Delivery | None] = engine.claim_one
        """Claim the group's best ready job, if any."""
        self.ack_nowait: Callable[[Delivery], None] = engine.ack  # type: ignore[assignment]  # this storage's own deliveries
        """``settle_nowait(delivery, Settle.ACK, None)``."""

    # -- lifetime -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Anchor wall time on trio's clock."""
        self._clock = WallClock()
        self._engine.clock = self._clock
        await trio.lowlevel.checkpoint()

    async def close(self) -> None:
        """Nothing to release."""
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def test_connection(self) -> None:
        """Always succeeds: the state lives in this process."""
        await trio.lowlevel.checkpoint()

    # -- wake-ups -----------------------------------------------------------------------------

    def _wake_groups(self) -> None:
        """Every group got ready work: wake the routers waiting for it."""
        sleepers = self._sleepers
        for bell in sleepers.values():
            bell.ring()
        sleepers.clear()

    def _wake_group(self, group: str) -> None:
        bell = self._sleepers.pop(group, None)
        if bell is not None:
            bell.ring()

    def _timer_added(self, due: float) -> None:
        if due < self._armed:
            self._armed = -math.inf
            self._timer_bell.ring()

    # -- producing ----------------------------------------------------------------------------

    def encode(self, data: Any) -> Any:
        """The payload itself: kept as the Python object (never copied)."""
        return data

    def enqueue_nowait(
        self,
        job_id: str,
        data: Any,
        priority: int,
        delay: float,
        timeout: float | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> bool:
        """Store one job (see ``Storage.enqueue``)."""
        clock = self._clock
        assert clock is not None
        now = clock.trio_now()
        engine = self._engine
        stored = engine.enqueue(
            job_id=job_id,
            data=data,
            priority=priority,
            delay=delay,
            now=now,
            timestamp=clock.to_wall(now),
            timeout=timeout,
            headers=headers,
        )
        if stored:
            if delay > 0:
                self._timer_added(now + delay)
            elif self._sleepers:  # a router waits, so groups exist: the job is ready for all
                sleepers = self._sleepers
                for bell in sleepers.values():
                    bell.ring()
                sleepers.clear()
        return stored

    def queued_job(self, job_id: str) -> QueueJob[Any] | None:
        """The ``QueueJob`` of a job just stored (see ``QueueEngine.queued_job``)."""
        return self._engine.queued_job(job_id)

    async def enqueue(self, job: NewJob) -> bool:
        """Store one job (see ``Storage.enqueue``); with ``job.groups``, for those groups
        only (one not created yet takes it when it is)."""
        if job.groups is None:
            stored = self.enqueue_nowait(
                job.id, job.data, job.priority, job.delay, job.timeout, job.headers
            )
        else:
            stored = self._enqueue_for(job, job.groups)
        await trio.lowlevel.checkpoint_if_cancelled()
        return stored

    def _enqueue_for(self, job: NewJob, groups: tuple[str, ...]) -> bool:
        clock = self._clock
        assert clock is not None
        now = clock.trio_now()
        stored = self._engine.enqueue(
            job_id=job.id,
            data=job.data,
            priority=job.priority,
            delay=job.delay,
            now=now,
            timestamp=clock.to_wall(now),
            only=groups,
            timeout=job.timeout,
            headers=job.headers,
        )
        if stored:
            if job.delay > 0:
                self._timer_added(now + job.delay)
            else:
                for group in groups:
                    self._wake_group(group)
        return stored

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> int:
        """Store several jobs, all or nothing (see ``Storage.enqueue_many``)."""
        clock = self._clock
        assert clock is not None
        engine = self._engine
        engine.check_room(len(engine.new_ids(job.id for job in jobs)))
        now = trio.current_time()
        timestamp = clock.to_wall(now)
        stored = 0
        enqueue = engine.enqueue
        for job in jobs:
            if enqueue(
                job_id=job.id,
                data=job.data,
                priority=job.priority,
                delay=job.delay,
                now=now,
                timestamp=timestamp,
                timeout=job.timeout,
                headers=job.headers,
            ):
                stored += 1
                if job.delay > 0:
                    self._timer_added(now + job.delay)
            else:
                job.skipped = True
        if stored and self._sleepers:
            self._wake_groups()
        await trio.lowlevel.checkpoint_if_cancelled()
        return stored

    # -- consuming ----------------------------------------------------------------------------

    async def register_group(self, group: str, max_retries: int) -> None:
        """Create a group; the first one takes the jobs enqueued before."""
        if self._engine.add_group(group, max_retries):
            self._wake_group(group)
        await trio.lowlevel.checkpoint_if_cancelled()

    def claim_nowait(self, group: str, n: int) -> list[Delivery]:
        """Claim up to ``n`` of the group's best ready jobs."""
        return self._engine.claim(group, n)  # type: ignore[return-value]  # list is invariant

    async def send_claim(self, group: str, n: int, outcomes: Sequence[Outcome]) -> ClaimTicket:
        """Settle ``outcomes``, then claim (answered at once)."""
        for delivery, how, detail in outcomes:
            self.settle_nowait(delivery, how, detail)
        return ClaimTicket(group, n, outcomes, self._engine.claim(group, n))

    async def send_wait_claim(self, group: str, n: int, wait_seconds: float) -> ClaimTicket:
        """A claim that waits for work first (it waits and claims in ``receive_claim``)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return ClaimTicket(group, n, (), _Waiting(wait_seconds))

    async def interrupt_wait(self, ticket: ClaimTicket) -> None:
        """End a wait claim's wait now."""
        waiting = ticket.state
        if type(waiting) is _Waiting:
            waiting.interrupted = True
            waiting.scope.cancel()
        await trio.lowlevel.checkpoint()

    async def receive_claim(self, ticket: ClaimTicket) -> list[Delivery]:
        """The deliveries claimed by ``send_claim`` (a wait claim waits, then claims)."""
        state = ticket.state
        if type(state) is _Waiting:
            with state.scope:
                if not state.interrupted:
                    await self.wait_for_work(ticket.group, state.seconds)
            return self._engine.claim(ticket.group, ticket.n)  # type: ignore[return-value]  # list is invariant
        await trio.lowlevel.checkpoint_if_cancelled()
        deliveries: list[Delivery] = state
        return deliveries

    def settle_nowait(self, delivery: Delivery, how: Settle, detail: Any) -> None:
        """Apply one outcome (see ``Settle``)."""
        self._settle_at(delivery, how, detail, None)

    def _settle_at(self, delivery: Delivery, how: Settle, detail: Any, now: float | None) -> None:
        """Apply one outcome at ``now`` (None: the current time)."""
        engine = self._engine
        d: MemoryDelivery = delivery  # type: ignore[assignment]  # this storage's own deliveries
        if how is _ACK:
            engine.ack(d)
        elif how is Settle.RETRY:
            delay, error = detail
            due = engine.retry(d, trio.current_time() if now is None else now, delay, error)
            if due is not None:
                self._timer_added(due)
        elif how is Settle.FAIL:
            engine.fail(d, detail, trio.current_time() if now is None else now)
        elif how is Settle.CANCEL:
            engine.cancel_delivery(d)
        else:
            engine.release(d)
            self._wake_group(d.group)

    async def settle(self, outcomes: Sequence[Outcome]) -> list[Delivery]:
        """Apply outcomes, all at one moment as a shared backend's one script does (jobs
        retried with the same delay become ready together, then in enqueue order);
        none is ever lost: no leases."""
        now = trio.current_time()
        for delivery, how, detail in outcomes:
            self._settle_at(delivery, how, detail, now)
        await trio.lowlevel.checkpoint_if_cancelled()
        return []

    async def wait_for_work(self, group: str, wait_seconds: float) -> None:
        """Sleep until the group gets ready work (or ``wait_seconds``)."""
        state = self._engine.group(group)
        if state is not None and state.ready.live:
            await trio.lowlevel.checkpoint()
            return
        bell = self._bells.get(group)
        if bell is None:
            bell = self._bells[group] = Doorbell()
        self._sleepers[group] = bell
        try:
            if wait_seconds == math.inf:
                await bell.wait()
            else:
                with trio.move_on_after(wait_seconds):
                    await bell.wait()
        finally:
            self._sleepers.pop(group, None)

    # -- time ---------------------------------------------------------------------------------

    async def advance(self) -> float:
        """Fire every due timer; seconds until the next."""
        now = trio.current_time()
        engine = self._engine
        woken, skipped = engine.advance(now)
        for group in woken:
            self._wake_group(group)
        for job_id, occurrence_id in skipped:
            logger.warning(
                "recurring job %r: occurrence %s skipped: queue %r is full",
                job_id,
                occurrence_id,
                engine.name,
            )
        await trio.lowlevel.checkpoint_if_cancelled()
        return engine.next_deadline() - now

    async def wait_for_timers(self, wait_seconds: float) -> None:
        """Sleep until a timer earlier than ``wait_seconds`` from now is added (or until then)."""
        deadline = trio.current_time() + wait_seconds
        self._armed = deadline
        try:
            with trio.move_on_at(deadline):
                await self._timer_bell.wait()
        finally:
            # awake: a timer added now rings, so that the next wait returns at once and
            # the scheduler advances (it advances after a wait only when woken early)
            self._armed = math.inf

    async def heartbeat(self) -> None:
        """On the real clock, notice a host that slept: re-derive cron deadlines."""
        clock = self._clock
        if clock is not None and clock.reanchor():
            self._engine.reanchor()
        await trio.lowlevel.checkpoint_if_cancelled()

    async def renew(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """No leases: nothing to renew."""
        await trio.lowlevel.checkpoint()
        return []

    async def reap(self) -> ReapReport:
        """No leases: nothing to reap."""
        await trio.lowlevel.checkpoint()
        return ReapReport()

    # -- recurring ----------------------------------------------------------------------------

    async def schedule(self, spec: ScheduleSpec) -> bool:
        """Declare or replace a recurring job."""
        now = trio.current_time()
        changed = self._engine.schedule(spec, now)
        if changed:
            self._timer_added(self._engine.next_deadline())
        await trio.lowlevel.checkpoint_if_cancelled()
        return changed

    async def cancel_schedule(self, job_id: str) -> bool:
        """Cancel a recurring job."""
        cancelled = self._engine.cancel_schedule(job_id)
        await trio.lowlevel.checkpoint_if_cancelled()
        return cancelled

    async def schedule_ids(self) -> list[str]:
        """Ids of the active recurring jobs, in declaration order."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return self._engine.schedule_ids()

    async def schedule_details(self, job_id: str) -> RecurringJobDetails[Any] | None:
        """Details of an active recurring job."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return self._engine.schedule_details(job_id)

    # -- reading ------------------------------------------------------------------------------

    async def stats(self) -> QueueStats:
        """The engine's counters."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return self._engine.stats()

    async def failed_jobs(self, group: str | None, limit: int) -> list[FailedJob[Any]]:
        """The newest ``limit`` entries of the engine's failed-jobs record."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return self._engine.failed_jobs(group, limit)

    async def retry_failed(self, job_id: str, group: str) -> int:
        """Deliver a recorded failure again to its group (see ``QueueEngine.retry_failed``)."""
        status = self._engine.retry_failed(job_id, group, trio.current_time())
        if status == RETRY_DONE:
            self._wake_group(group)
        await trio.lowlevel.checkpoint_if_cancelled()
        return status

    async def drop_failed(
        self, group: str | None, entries: Sequence[tuple[str, str]] | None
    ) -> int:
        """Remove entries of the failed-jobs record; how many went."""
        dropped = self._engine.drop_failed(group, entries)
        await trio.lowlevel.checkpoint_if_cancelled()
        return dropped

    # -- job control ------------------------------------------------------------------------

    async def set_paused(self, group: str | None, paused: bool) -> None:
        """Pause or resume a group or the whole queue (the engine's claims obey at once)."""
        self._engine.set_paused(group, paused)
        await trio.lowlevel.checkpoint_if_cancelled()

    async def pause_state(self) -> PauseState:
        """The engine's pause state."""
        await trio.lowlevel.checkpoint_if_cancelled()
        engine = self._engine
        return PauseState(engine.paused_queue, frozenset(engine.paused_groups))

    async def job_info(self, job_id: str) -> JobInfo[Any] | None:
        """Where the job stands in each group (see ``_state/inspection.py``)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return inspection.job_info(self._engine, job_id)

    async def list_jobs(
        self, state: JobState | None, group: str | None, limit: int
    ) -> list[JobInfo[Any]]:
        """Jobs by state (see ``_state/inspection.py``)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return inspection.list_jobs(self._engine, state, group, limit)

    async def cancel_job(self, job_id: str) -> CancelReport:
        """Remove the job where it waits; its running deliveries end when the runtime
        settles them with ``CANCEL``."""
        await trio.lowlevel.checkpoint_if_cancelled()  # before: the report must reach the caller
        removed, running = self._engine.cancel(job_id)
        return CancelReport(removed, [delivery.group for delivery in running], ended=False)

    async def export_pending(self) -> list[PendingJob[Any]]:
        """Take out every pending job, ``remaining_delay`` measured on trio's clock."""
        await trio.lowlevel.checkpoint()
        if self._clock is None:
            return []
        return self._engine.export_pending(trio.current_time())


@final
class InMemoryQueue(RuntimeQueue[T], Generic[T]):
    """A queue whose state lives in this process (the embedded default backend).

    Start it with ``async with queue:`` or ``await nursery.start(queue.run)``.
    Pending jobs are lost when the process ends; ``export_pending`` hands them
    over to another backend after ``stop()``.
    """

    def __init__(
        self,
        name: str,
        config: InMemoryQueueConfig | None = None,
        *,
        instruments: Sequence[object] = (),
    ) -> None:
        config = _require_config(config)
        self._config = config
        super().__init__(
            name,
            MemoryStorage(name, config),
            concurrency=config.concurrency,
            delay_multiplier=config.delay_multiplier,
            instruments=instruments,
        )

    @property
    def config(self) -> InMemoryQueueConfig:
        """The queue's config."""
        return self._config

    @property
    def engine(self) -> QueueEngine:
        """The sans-IO engine holding this queue's state (for tests and debugging)."""
        storage: MemoryStorage = self.storage  # type: ignore[assignment]  # built in __init__
        return storage.engine


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
