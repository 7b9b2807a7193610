"""RuntimeQueue: the one runtime every backend runs on (the supervisor of the actor tree).

The task tree of one running queue::

    RuntimeQueue.run                     (supervisor)
    └── keepalive nursery                (lives until every outcome is written)
        ├── SchedulerActor               (every timer; renews leases until the end)
        ├── OutcomeWriter                (storages that do I/O: writes outcomes no claim carries)
        └── handlers nursery             (cancelled once no handler runs)
            ├── ConsumerActor workers    (run handlers, settle outcomes)
            └── actors nursery           (cancelled by stop(): nothing more is claimed)
                └── GroupRouterActor x groups   (claim, round-robin to consumers)

A backend is a ``Storage`` (``_storage.py``); every public method of the queue is
written here once, for every backend: it checks its arguments with
``_state/policy.py``, waits until the queue runs, and asks the storage.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import trio

from .._errors import BackendUnavailableError, QueueStoppedError
from .._model import NO_HEADERS, QueueJob
from .._queue_base import BaseQueue, LifeState
from .._state import policy
from .._state.cron import CronSchedule, load_zone
from .._state.failed import RETRY_DONE, RETRY_NO_GROUP, check_limit
from .._storage import HeartbeatReport, InProcessStorage, NewJob, ScheduleSpec, Settle
from .backoff import BackendHealth
from .consumer import ConsumerActor
from .instruments import Instruments
from .pausegate import PauseGate
from .router import GroupRouterActor
from .scheduler import SchedulerActor
from .slots import Slots
from .writer import OutcomeWriter, report_lost

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from .._model import (
        FailedJob,
        JobInfo,
        JobState,
        PendingJob,
        QueueStats,
        RecurringJobDetails,
    )
    from .._protocols import Handler
    from .._storage import Delivery, ReapReport, Storage

__all__ = ["RuntimeQueue"]

T = TypeVar("T")

logger = logging.getLogger("checkqueue_actors")


def _is_system_clock(clock: trio.abc.Clock) -> bool:
    """Whether ``clock`` is trio's default clock (``offset + time.perf_counter()``)."""
    kind = type(clock)
    return kind.__name__ == "SystemClock" and kind.__module__.startswith("trio.")


class RuntimeQueue(BaseQueue[T], Generic[T]):
    """A queue run by the actor tree over a storage (backends subclass it with a config).

    Start it with ``async with queue:`` or ``await nursery.start(queue.run)``.
    """

    def __init__(
        self,
        name: str,
        storage: Storage,
        *,
        concurrency: int,
        delay_multiplier: float,
        instruments: Sequence[object] = (),
    ) -> None:
        super().__init__(name)
        self.storage = storage
        self.local: InProcessStorage | None = (
            cast("InProcessStorage", storage) if hasattr(storage, "claim_nowait") else None
        )
        """The storage when it lives in this process (its synchronous methods are used)."""
        self.ack_nowait: Callable[[Delivery], None] | None = None
        """The in-process storage's ``settle_nowait`` of a success: its ``ack_nowait``
        when it has one (one call), else a function calling ``settle_nowait``."""
        if self.local is not None:
            self.ack_nowait = getattr(storage, "ack_nowait", None) or functools.partial(
                _ack_by_settle, self.local
            )
        self.delay_multiplier = delay_multiplier
        self.slots = Slots(concurrency)
        self.alone = False
        """A suspect delivery runs alone (or waits to) in this process: another one
        is given back rather than held beside it."""
        self.run_queue: deque[Delivery] = deque()
        """Claimed deliveries waiting for a worker, in claim order."""
        self.health = BackendHealth(name)
        """What this queue's loops learned about the backend (each outage logged once)."""
        self.writer = OutcomeWriter(storage, name, self.health) if self.local is None else None
        self.held: dict[Delivery, None] = {}
        """Deliveries claimed and not decided yet, under a lease (storages with leases)."""
        self.pause_gate = PauseGate()
        """Which groups this process knows to be paused (its routers wait on it)."""
        self.now: Callable[[], float] = trio.current_time
        """Now on trio's clock (the run's clock, looked up once when the queue starts)."""
        self.elapsed: Callable[[], float] = trio.current_time
        """A clock for durations (handler time): trio's clock, read straight from
        ``time.perf_counter`` when the run uses trio's own system clock (the same time
        but for an offset, at half the cost)."""
        self.cancelled: set[Delivery] = set()
        """Deliveries whose handler ``cancel_job`` cancelled, until they are settled."""
        self._leases = storage.lease_seconds is not None
        self.stopping = False
        self._instrument_list = tuple(instruments)
        self.instruments = Instruments(self._instrument_list)
        """The instruments observing this queue, gathered by hook."""
        self.jobs_enqueued = 0
        """Jobs this queue object stored (duplicates not counted), for instruments that
        read it (see ``Instrument.attached``)."""
        self.routers: dict[str, GroupRouterActor] = {}
        """The router of each group consuming in this process."""
        self._workers = ConsumerActor(self)
        self._scheduler = SchedulerActor(self)
        self._actors: trio.Nursery | None = None
        self._handlers: trio.Nursery | None = None
        self._grace_scope: trio.CancelScope | None = None
        self.interrupting = False
        """Set once the stop's grace period has passed and running handlers are cancelled."""
        self.interrupted_deliveries: list[tuple[str, str]] = []
        """``(job id, group)`` of each delivery whose handler was cancelled because the
        stop's grace period passed, and which was released."""
        self._attach(self.instruments.attached)

    def add_instruments(self, instruments: Sequence[object]) -> None:
        """Let more instruments observe this queue (from now on).

        Raises:
          TypeError: for an object with none of the ``Instrument`` methods.
        """
        combined = (*self._instrument_list, *instruments)
        added = Instruments(instruments)
        self.instruments = Instruments(combined)
        self._instrument_list = combined
        self._attach(added.attached)

    def _attach(self, hooks: Sequence[Callable[..., object]]) -> None:
        for hook in hooks:
            try:
                hook(self)
            except Exception:
                self.instruments.log_once(hook)

    def running_by_group(self) -> dict[str, int]:
        """Handlers running now in this process, by group (for instruments)."""
        return self._workers.running_by_group()

    @property
    def running(self) -> int:
        """Handlers running now in this process."""
        return self._workers.running

    @property
    def handlers_nursery(self) -> trio.Nursery:
        """Where workers run (only while running)."""
        assert self._handlers is not None
        return self._handlers

    # -- lifetime -----------------------------------------------------------------------------

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        storage = self.storage
        clock = trio.lowlevel.current_clock()
        self.now = clock.current_time
        self.elapsed = perf_counter if _is_system_clock(clock) else clock.current_time
        await storage.open()
        try:
            try:
                self.pause_gate.update(await storage.pause_state())
            except BackendUnavailableError:
                # starting does not need the backend: a storage shared by several
                # processes tells the state with each heartbeat, and claims nothing for
                # a paused group meanwhile (ClaimTicket.paused)
                pass
            async with trio.open_nursery() as keepalive:
                await keepalive.start(self._scheduler.run)
                if self.writer is not None:
                    keepalive.start_soon(self.writer.run)
                async with trio.open_nursery() as handlers:
                    self._handlers = handlers
                    async with trio.open_nursery() as actors:
                        self._actors = actors
                        for router in self.routers.values():  # none yet; keep it explicit
                            actors.start_soon(router.run)
                        self._mark_started(task_status)
                        await self._stop_requested.wait()
                        self._mark_stopping()
                        self.stopping = True
                        self._scheduler.stop_timers()
                        actors.cancel_scope.cancel(reason=f"queue {self.name!r} stopping")
                    self._actors = None
                    # nothing is claimed any more: deliveries not started go back at once
                    self._release_unstarted()
                    await self._wait_handlers(handlers)
                    self._workers.retire()
                    handlers.cancel_scope.cancel(reason=f"queue {self.name!r} stopped")
                self._report_interrupted()
                if self.writer is not None:
                    await self.writer.flush()
                keepalive.cancel_scope.cancel(reason=f"queue {self.name!r} stopped")
        finally:
            # not inside a shielding scope: a storage may exit here what its open() entered
            # (a client's task group), which cannot be done from within a scope opened
            # later; close() itself shields what must complete
            await storage.close()

    async def _wait_handlers(self, handlers: trio.Nursery) -> None:
        """Wait until no handler runs, or until the stop's grace period has passed: then
        cancel the handlers still running (their deliveries are released)."""
        scope = trio.CancelScope(deadline=self._grace_deadline)
        self._grace_scope = scope
        try:
            with scope:
                await self._workers.wait_idle()
        finally:
            self._grace_scope = None
        if self._workers.running:
            self.interrupting = True
            handlers.cancel_scope.cancel(
                reason=f"queue {self.name!r}: the stop's grace period has passed"
            )

    def _shorten_grace(self, deadline: float) -> None:
        super()._shorten_grace(deadline)
        scope = self._grace_scope
        if scope is not None:
            scope.deadline = self._grace_deadline

    def _report_interrupted(self) -> None:
        interrupted = self.interrupted_deliveries
        if interrupted:
            logger.warning(
                "queue %r: the stop's grace period passed with %d handler(s) running: "
                "they were cancelled and their deliveries released (not an attempt, not a "
                "failure): %s",
                self.name,
                len(interrupted),
                ", ".join(f"job {job_id!r} in group {group!r}" for job_id, group in interrupted),
            )

    def _release_unstarted(self) -> None:
        run_queue = self.run_queue
        while run_queue:
            self.settle(run_queue.popleft(), Settle.RELEASE, None)
            self.slots.give(1)

    async def _admit(self, *, allow_stopping: bool) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        state = self._state
        if state is LifeState.RUNNING or (allow_stopping and state is LifeState.STOPPING):
            return
        await self._check_open(allow_stopping=allow_stopping)

    # -- the runtime's hot paths (called by the actors) --------------------------------------

    def dispatch(self, deliveries: list[Delivery]) -> None:
        """Claimed deliveries (assigned to consumers) join the run queue."""
        if self.stopping:
            for delivery in deliveries:
                self.settle(delivery, Settle.RELEASE, None)
            self.slots.give(len(deliveries))
            return
        if self._leases:
            held = self.held
            for delivery in deliveries:
                held[delivery] = None
        self.run_queue.extend(deliveries)
        self._workers.wake()

    def dispatch_one(self, delivery: Delivery) -> None:
        """``dispatch`` of one delivery (an in-process storage's router; never stopping)."""
        self.run_queue.append(delivery)
        self._workers.wake()

    def settle(self, delivery: Delivery, how: Settle, detail: Any) -> None:
        """Record how a delivery ended (written at once, or by the next claim or the writer)."""
        local = self.local
        if local is not None:
            local.settle_nowait(delivery, how, detail)
            return
        self.held.pop(delivery, None)
        writer = self.writer
        assert writer is not None
        writer.add((delivery, how, detail))

    async def renew_leases(self) -> None:
        """Extend the leases of the deliveries this process holds (the scheduler's duty).

        Called even when none is held: the storage also marks this process's groups as
        alive then.
        """
        lost = await self.storage.renew(list(self.held))
        report_lost(self.name, [delivery for delivery in lost if delivery in self.held])

    def apply_heartbeat(self, report: HeartbeatReport | None) -> None:
        """Obey what other processes changed (the scheduler calls it after each heartbeat)."""
        if report is None:
            return
        if report.paused is not None:
            self.pause_gate.update(report.paused)
        for group, job_id in report.cancelled:
            self._cancel_here(job_id, (group,))

    def _cancel_here(self, job_id: str, groups: Iterable[str] | None) -> int:
        """End this process's deliveries of ``job_id`` (of ``groups`` only, unless None):
        those not started leave the run queue, running handlers are cancelled; each is
        settled ``CANCEL``. Returns how many."""
        count = 0
        run_queue = self.run_queue
        if run_queue:
            for delivery in [d for d in run_queue if d.job is not None and d.job.id == job_id]:
                if groups is not None and delivery.group not in groups:
                    continue
                run_queue.remove(delivery)
                self.settle(delivery, Settle.CANCEL, None)
                self.slots.give(1)
                count += 1
        return count + self._workers.cancel(job_id, groups)

    def report_reaped(self, report: ReapReport) -> None:
        """Log what a reap took back."""
        if report.redelivered or report.failed:
            logger.warning(
                "queue %r: %d expired deliveries redelivered, %d failed as stalled",
                self.name,
                report.redelivered,
                report.failed,
            )
        for group in report.abandoned_groups:
            logger.warning("queue %r: consumer group %r removed as abandoned", self.name, group)

    # -- producing ----------------------------------------------------------------------------

    def _job_enqueued(
        self, job_id: str, data: Any, priority: int, headers: Mapping[str, str]
    ) -> None:
        """Tell the instruments a job was stored (an in-process storage lends the
        ``QueueJob`` its first delivery will use: built once for both)."""
        local = self.local
        job = local.queued_job(job_id) if local is not None else None
        if job is None:
            job = QueueJob(id=job_id, data=data, priority=priority, headers=headers)
        instruments = self.instruments
        for hook in instruments.job_enqueued:  # inline: once per job per hook
            try:
                hook(self, job)
            except Exception:
                instruments.log_once(hook)

    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # a delivery's timeout, not this call's
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Add a job and return its id.

        Args:
          data: The payload.
          priority: Higher runs first (an int in ``-2**31 .. 2**31 - 1``).
          start_delay: Seconds (scaled by ``delay_multiplier``) before the job becomes
            ready.
          job_id: Dedup key: while a job with this id is anywhere in the queue
            (waiting, delayed, retrying or running in any group), the call does nothing
            and returns the id.
          timeout: Seconds one delivery of this job may run (finite, > 0, not scaled
            by ``delay_multiplier``); it wins over the group's ``consume(timeout=...)``.
            A delivery past it is cancelled and fails with ``JobTimeoutError``.
          headers: String metadata carried with the job to ``QueueJob.headers``
            (through retries, ``export_pending`` and backend switches): at most 64
            entries, names following the naming rules of ids (at most 200
            characters), values any UTF-8 encodable str, 16 KiB in all.
        Returns:
          The job id (a fresh uuid4 string unless ``job_id`` was given).
        Raises:
          ValueError: for an out-of-range priority, a negative, non-finite or over
            100-year delay, a ``job_id`` breaking the naming rules
            (``policy.check_name``), a timeout that is not a finite number > 0, or
            headers breaking a rule (``policy.check_headers``); for a wrong type (a
            non-int priority, ``bool`` and ``float`` included, a non-number timeout, a
            non-str header) a ``TypeError`` that is also a ``ValueError``.
          SerializationError: the backend cannot store the payload; nothing is stored.
          QueueFullError: when ``max_queue_size`` jobs are pending; nothing is stored.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        Cancellation:
          Atomic: the job is stored whole or not at all. On Redis, concurrent calls
          share round trips (auto-pipelining): a call cancelled before its request
          left stores nothing; one cancelled after returns at once and its job may be
          stored (enqueue again with the same ``job_id`` to be sure: it is stored once).
        """
        checked_priority, delay, checked_id = policy.check_enqueue_args(
            priority, start_delay, job_id
        )
        if timeout is None and headers is None:
            checked_timeout, checked_headers = None, NO_HEADERS
        else:
            checked_timeout, checked_headers = policy.check_job_options(timeout, headers)
        local = self.local
        payload = data if local is not None else self.storage.encode(data)
        # _admit(allow_stopping=True), inline: once per job
        await trio.lowlevel.checkpoint_if_cancelled()
        state = self._state
        if state is not LifeState.RUNNING and state is not LifeState.STOPPING:
            await self._check_open(allow_stopping=True)
        the_id = checked_id if checked_id is not None else policy.new_job_id()
        delay *= self.delay_multiplier
        instruments = self.instruments
        if instruments.prepare_headers:
            checked_headers = instruments.add_headers(self, the_id, checked_headers)
        if local is not None:
            stored = local.enqueue_nowait(
                the_id, payload, checked_priority, delay, checked_timeout, checked_headers
            )
        else:
            stored = await self.storage.enqueue(
                NewJob(
                    the_id, payload, checked_priority, delay, None, checked_timeout, checked_headers
                )
            )
            if delay > 0:
                self._scheduler.wake()
        if stored:
            self.jobs_enqueued += 1
            if self.instruments.job_enqueued:
                self._job_enqueued(the_id, data, checked_priority, checked_headers)
        return the_id

    async def enqueue_for_groups(
        self,
        data: T,
        *,
        groups: Sequence[str],
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # a delivery's timeout, not this call's
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """``enqueue`` for the named consumer groups only (how a backend switch moves a
        job that some groups had already finished).

        A named group that does not exist yet gets the job when it is registered
        (on Redis, it is created at once and waits for its consumers); the other
        groups never get it. No group existing at all is the exception on Redis: the
        job then waits for the first group, as any job enqueued then.

        Args:
          data: The payload.
          groups: The consumer groups that get the job (non-empty names).
          priority: Higher runs first.
          start_delay: Seconds (scaled by ``delay_multiplier``) before it is ready.
          job_id: Dedup key, as for ``enqueue``.
          timeout: The job's delivery timeout, as for ``enqueue``.
          headers: The job's headers, as for ``enqueue``.
        Returns:
          The job id.
        Raises:
          ValueError: for an empty ``groups`` or a bad name in it, and as ``enqueue``.
          SerializationError, QueueFullError, QueueStoppedError,
          BackendUnavailableError: as ``enqueue``.
        """
        if isinstance(groups, str) or not groups:
            msg = f"groups must be a non-empty sequence of group names, not {groups!r}"
            raise ValueError(msg)
        names = tuple(dict.fromkeys(groups))
        for name in names:
            if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
                msg = f"a consumer group name must be a non-empty str, not {name!r}"
                raise ValueError(msg)
        checked_priority, delay, checked_id = policy.check_enqueue_args(
            priority, start_delay, job_id
        )
        checked_timeout, checked_headers = policy.check_job_options(timeout, headers)
        payload = data if self.local is not None else self.storage.encode(data)
        await self._admit(allow_stopping=True)
        the_id = checked_id if checked_id is not None else policy.new_job_id()
        delay *= self.delay_multiplier
        instruments = self.instruments
        if instruments.prepare_headers:
            checked_headers = instruments.add_headers(self, the_id, checked_headers)
        stored = await self.storage.enqueue(
            NewJob(
                the_id,
                payload,
                checked_priority,
                delay,
                names,
                checked_timeout,
                headers=checked_headers,
            )
        )
        if delay > 0 and self.local is None:
            self._scheduler.wake()
        if stored:
            self.jobs_enqueued += 1
            if self.instruments.job_enqueued:
                self._job_enqueued(the_id, data, checked_priority, checked_headers)
        return the_id

    async def enqueue_many(
        self,
        items: Iterable[T],
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_ids: Iterable[str | None] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # a delivery's timeout, not this call's
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Add several jobs at once, all or nothing, and return their ids in order.

        The same as calling ``enqueue`` once per item with the same ``priority``,
        ``start_delay``, ``timeout`` and ``headers`` (and the matching entry of
        ``job_ids``), except that every
        argument is checked, every payload encoded and the room counted before
        anything is stored: if one is invalid or the new jobs do not all fit, nothing
        is stored. An id already in the queue, or repeated within ``job_ids``, is
        ignored as ``enqueue`` does, and its id is returned in its place.

        Args:
          items: The payloads.
          priority: Higher runs first (for every item).
          start_delay: Seconds before the items become ready (for every item).
          job_ids: Dedup keys, one per item (``None`` for a fresh uuid4).
          timeout: Every item's delivery timeout, as for ``enqueue``.
          headers: Every item's headers, as for ``enqueue``.
        Returns:
          The job ids, one per item.
        Raises:
          ValueError: for a bad priority, delay, id, timeout or headers, or ``job_ids``
            of another length.
          SerializationError: a payload cannot be stored; nothing is stored.
          QueueFullError: when the new jobs would not all fit in ``max_queue_size``.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); see Cancellation for a batch stored in several calls.
        Cancellation:
          Atomic on an in-process backend; a backend that stores a large batch in
          several calls documents what a cancelled call may have stored.

        .. versionadded:: 0.1.0
        """
        datas, checked_priority, delay, ids = policy.check_enqueue_many_args(
            items, priority, start_delay, job_ids
        )
        checked_timeout, checked_headers = policy.check_job_options(timeout, headers)
        payloads = datas if self.local is not None else [self.storage.encode(d) for d in datas]
        await self._admit(allow_stopping=True)
        scaled = delay * self.delay_multiplier
        jobs = [
            NewJob(
                job_id if job_id is not None else policy.new_job_id(),
                payload,
                checked_priority,
                scaled,
                None,
                checked_timeout,
                checked_headers,
            )
            for job_id, payload in zip(ids, payloads, strict=True)
        ]
        instruments = self.instruments
        if instruments.prepare_headers:
            for job in jobs:
                job.headers = instruments.add_headers(self, job.id, checked_headers)
        if jobs:
            self.jobs_enqueued += await self.storage.enqueue_many(jobs)
            if delay > 0 and self.local is None:
                self._scheduler.wake()
            if self.instruments.job_enqueued:
                for job, data in zip(jobs, datas, strict=True):
                    if not job.skipped:
                        self._job_enqueued(job.id, data, job.priority, job.headers)
        return [job.id for job in jobs]

    # -- consuming ----------------------------------------------------------------------------

    async def consume(
        self,
        handler: Handler[T],
        *,
        consumer_group: str,
        max_retries: int = 3,
        timeout: float | None = None,  # noqa: ASYNC109  # the group's delivery timeout
    ) -> None:
        """Register one consumer in ``consumer_group``.

        Consumers of one group compete (round-robin, retries included); every group
        gets every job enqueued after it exists. The first group ever registered also
        gets the jobs enqueued before any group existed.

        ``timeout`` is the group's delivery timeout in seconds (finite, > 0; not
        scaled by ``delay_multiplier``): a handler of the group that runs longer is
        cancelled, and the delivery fails with ``JobTimeoutError`` (retried per
        ``max_retries``). A job enqueued with a ``timeout`` of its own uses that one.
        It holds in this process (each process gives its consumers their own).

        Raises:
          TypeError: for a handler that is not an async callable (a plain ``def``, a
            lambda); it is also a ``ValueError``.
          ValueError: for a group name breaking the naming rules, a ``max_retries``
            outside ``0 .. 10_000``, a ``timeout`` that is not a finite number > 0, or
            a ``max_retries`` or ``timeout`` other than the group has in this process.
          QueueStoppedError: once the queue is stopping.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        checked_timeout = policy.check_consume_args(handler, consumer_group, max_retries, timeout)
        await self._admit(allow_stopping=False)
        self._check_group(consumer_group, max_retries, checked_timeout)
        await self.storage.register_group(consumer_group, max_retries)
        # again: another call ran meanwhile
        self._check_group(consumer_group, max_retries, checked_timeout)
        if self.stopping:
            msg = f"queue {self.name!r} has been stopped"
            raise QueueStoppedError(msg)
        router = self.routers.get(consumer_group)
        if router is None:
            router = self.routers[consumer_group] = GroupRouterActor(
                self, consumer_group, max_retries, checked_timeout
            )
            router.add_consumer(handler)
            assert self._actors is not None
            self._actors.start_soon(router.run)
        else:
            router.add_consumer(handler)

    def _check_group(self, group: str, max_retries: int, timeout: float | None) -> None:
        router = self.routers.get(group)
        if router is None:
            return
        if router.max_retries != max_retries:
            msg = (
                f"consumer group {group!r} has max_retries={router.max_retries}; "
                f"a consumer cannot join it with max_retries={max_retries}"
            )
            raise ValueError(msg)
        if router.timeout != timeout:
            msg = (
                f"consumer group {group!r} has timeout={router.timeout}; "
                f"a consumer cannot join it with timeout={timeout}"
            )
            raise ValueError(msg)

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
        Cron jobs fire on the wall clock in ``timezone`` (default UTC). Each
        occurrence is an ordinary job whose id is ``f"{job_id}:{tick time}"``.
        Declaring the same job again with identical arguments changes nothing
        (``start_delay`` is not compared); with different ones it replaces the
        schedule and drops occurrences no group has started.

        Returns:
          ``job_id``.
        Raises:
          ValueError: unless exactly one of ``interval_seconds`` (1 ms .. 100 years)
            and ``cron_pattern`` is given, or for a bad ``job_id``, ``start_delay`` or
            priority.
          InvalidScheduleError: for an invalid cron pattern or unknown timezone.
          SerializationError: the backend cannot store the payload.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        checked_id, interval, pattern, delay, checked_priority, zone = policy.check_recurring_args(
            job_id, interval_seconds, cron_pattern, start_delay, priority, timezone
        )
        cron = CronSchedule(pattern, zone) if pattern is not None else None
        if cron is None:
            load_zone(zone)  # an unknown timezone is an error even where unused
        payload = data if self.local is not None else self.storage.encode(data)
        await self._admit(allow_stopping=True)
        multiplier = self.delay_multiplier
        await self.storage.schedule(
            ScheduleSpec(
                job_id=checked_id,
                data=payload,
                priority=checked_priority,
                interval_seconds=interval,
                cron=cron,
                first_delay=policy.scaled(delay, multiplier),
                step=policy.scaled(interval, multiplier) if interval is not None else 0.0,
            )
        )
        self._scheduler.wake()
        return checked_id

    async def cancel_recurring(self, job_id: str) -> None:
        """Stop future occurrences and drop those no group has started; unknown ids are a no-op.

        Raises:
          ValueError: for an id breaking the naming rules (no recurring job has it).
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        policy.check_recurring_id(job_id)
        await self._admit(allow_stopping=True)
        await self.storage.cancel_schedule(job_id)

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs.

        Raises:
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        await self._read()
        return await self.storage.schedule_ids()

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of an active recurring job, ``None`` when unknown or cancelled.

        Raises:
          ValueError: for an id breaking the naming rules (no recurring job has it).
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        policy.check_recurring_id(job_id)
        await self._read()
        return await self.storage.schedule_details(job_id)

    # -- monitoring ---------------------------------------------------------------------------

    async def _read(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._started.is_set():
            await self._wait_started()

    async def get_in_flight_count(self) -> int:
        """Handlers of this queue running now in this process."""
        await self._read()
        return self.running

    async def get_stats(self) -> QueueStats:
        """Counters: pending jobs, deliveries being processed, lifetime completed and
        failed deliveries, groups with a consumer.

        Raises:
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        await self._read()
        return await self.storage.stats()

    # -- the failed-jobs record ----------------------------------------------------------------

    async def get_failed_jobs(
        self, limit: int = 100, *, consumer_group: str | None = None
    ) -> list[FailedJob[T]]:
        """The newest deliveries that failed for good, newest first.

        A delivery fails for good when its handler failed once more than the group's
        ``max_retries`` allows, when its stored job cannot be decoded, or (on Redis)
        when it stalled too often. The record holds one entry per job and group (a
        later failure replaces it) and the newest failures of the queue only (its
        backend's ``max_failed_jobs`` or ``failed_jobs_max``). ``get_stats().failed``
        counts every failure, recorded or not.

        Args:
          limit: At most this many entries (an int >= 0). It may also be passed
            positionally, as the Redis backend's earlier ``get_failed_jobs(limit)``.
          consumer_group: Only this group's entries (every group's when None).
        Raises:
          ValueError: for a ``limit`` that is not an int >= 0 (a ``TypeError`` too for a
            non-int), or a group name breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
        """
        checked = check_limit(limit)
        if consumer_group is not None:
            consumer_group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        if checked == 0:
            return []
        return await self.storage.failed_jobs(consumer_group, checked)

    async def retry_failed_job(self, job_id: str, consumer_group: str) -> bool:
        """Run a failed job again, in ``consumer_group`` only, with ``attempts`` from 0.

        The entry leaves the record; the job is ready at once for that group (the other
        groups do not run it again). It may also be called as
        ``retry_failed_job(job_id, consumer_group)``, as on the Redis backend before.

        Returns:
          True when it was requeued; False when the record has no such entry (or the
          job is already back in that group).
        Raises:
          ValueError: the group does not exist (any more; the entry stays), or the id
            or group name breaks the naming rules.
          BackendUnavailableError: the backend cannot be reached.
        """
        checked_id = policy.check_job_id(job_id, required=True)
        assert checked_id is not None
        group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        status = await self.storage.retry_failed(checked_id, group)
        if status == RETRY_NO_GROUP:
            msg = f"consumer group {group!r} does not exist (any more)"
            raise ValueError(msg)
        return status == RETRY_DONE

    async def drop_failed_jobs(
        self,
        entries: Sequence[tuple[str, str]] | None = None,
        *,
        consumer_group: str | None = None,
    ) -> int:
        """Remove entries from the failed-jobs record: every entry of ``consumer_group``,
        or every entry when it is None.

        Args:
          entries: Instead, only these ``(job_id, consumer_group)`` pairs (the Redis
            backend's earlier form, ``drop_failed_jobs([(job_id, group), ...])``).
          consumer_group: Only this group's entries.
        Returns:
          How many entries were removed.
        Raises:
          ValueError: for both ``entries`` and ``consumer_group``, for an entry that is
            not a pair of a valid job id and group name, or a bad group name.
          BackendUnavailableError: the backend cannot be reached.
        """
        pairs: list[tuple[str, str]] | None = None
        if entries is not None:
            if consumer_group is not None:
                msg = "give entries or consumer_group, not both"
                raise ValueError(msg)
            pairs = [_failed_entry(entry) for entry in entries]
        elif consumer_group is not None:
            consumer_group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        if pairs is not None and not pairs:
            return 0
        return await self.storage.drop_failed(consumer_group, pairs)

    # -- job control --------------------------------------------------------------------------

    async def pause(self, consumer_group: str | None = None) -> None:
        """Start no new delivery in ``consumer_group``, or in every group when None.

        Running handlers finish; enqueues, delays, retries and recurring ticks go on,
        so jobs accumulate as pending until ``resume``. Pausing the whole queue also
        holds groups that join while it is paused. A durable backend keeps the state:
        every process obeys it (on Redis, within one heartbeat, 0.2 s by default;
        their claims obey at once) and it outlives restarts. A group that does not
        exist (yet) may be paused.

        Raises:
          ValueError: for a group name breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it; nothing was changed.
        """
        await self._set_paused(consumer_group, paused=True)

    async def resume(self, consumer_group: str | None = None) -> None:
        """Undo ``pause`` of ``consumer_group``; with None, resume the whole queue and
        every group paused on its own. Resuming a group while the whole queue is
        paused changes nothing until the queue is resumed.

        Raises:
          ValueError: for a group name breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it; nothing was changed.
        """
        await self._set_paused(consumer_group, paused=False)

    async def _set_paused(self, consumer_group: str | None, *, paused: bool) -> None:
        if consumer_group is not None:
            consumer_group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        storage = self.storage
        await storage.set_paused(consumer_group, paused)
        self.pause_gate.update(await storage.pause_state())

    async def is_paused(self, consumer_group: str | None = None) -> bool:
        """True when ``consumer_group`` starts no new delivery: it is paused, or the whole
        queue is. With None: True when the whole queue is paused.

        Raises:
          ValueError: for a group name breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
        """
        if consumer_group is not None:
            consumer_group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        state = await self.storage.pause_state()
        self.pause_gate.update(state)
        return state.is_paused(consumer_group)

    async def get_job(self, job_id: str) -> JobInfo[T] | None:
        """Where the job stands in each consumer group that still owes it, or failed it.

        Returns:
          ``None`` when the queue holds nothing of that id: unknown, or finished in
          every group (a failure is remembered as long as the failed-jobs record keeps
          its entry).
        Raises:
          ValueError: for an id breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
        """
        checked = policy.check_job_id(job_id, required=True)
        assert checked is not None
        await self._read()
        return await self.storage.job_info(checked)

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        consumer_group: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo[T]]:
        """Jobs with at least one group (``consumer_group`` only, unless None) in ``state``.

        ``state`` is one of ``"waiting"``, ``"delayed"``, ``"running"``,
        ``"retrying"``, ``"failed"``, or None for every state a job in the queue can
        be in (all but ``"failed"``). Order: waiting jobs in the order they would be
        delivered (priority, then availability, then enqueue order), retrying and
        delayed ones by the time they become available, failed ones newest failure
        first, running ones in no fixed order; with None: running, waiting, retrying,
        then delayed jobs, each job once. On Redis the cost grows with ``limit``, not
        with the size of the queue.

        Raises:
          ValueError: for an unknown ``state``, a ``limit`` outside ``1 .. 10_000``, or a
            group name breaking the naming rules (a ``TypeError`` too for a wrong type).
          BackendUnavailableError: the backend cannot be reached.
        """
        checked_state = policy.check_job_state(state)
        checked_limit = policy.check_list_limit(limit)
        if consumer_group is not None:
            consumer_group = policy.check_name("consumer_group", consumer_group)
        await self._read()
        return await self.storage.list_jobs(checked_state, consumer_group, checked_limit)

    async def cancel_job(self, job_id: str) -> bool:
        """Cancel a job in every consumer group.

        Where it waits (ready, delayed or retrying) it is removed. Where it runs, its
        handler is cancelled (``trio.Cancelled`` is raised inside it; on Redis also in
        another process, within one heartbeat, 0.2 s by default), and the delivery is
        neither retried nor counted as completed or failed. A recurring job's
        occurrence is cancelled alone (``cancel_recurring`` cancels the schedule).

        Returns:
          True when something was cancelled; False when the queue holds no such job
          waiting or running.
        Raises:
          ValueError: for an id breaking the naming rules.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it; nothing was changed.
        """
        checked = policy.check_job_id(job_id, required=True)
        assert checked is not None
        await self._read()
        report = await self.storage.cancel_job(checked)
        here = self._cancel_here(checked, None)
        return report.cancelled or here > 0

    async def test_connection(self) -> None:
        """Probe the backend (works whether or not the queue runs).

        Raises:
          BackendUnavailableError: naming the address (never a password) and the cause.
        """
        await self.storage.test_connection()

    async def export_pending(self) -> list[PendingJob[T]]:
        """Take every job still pending (ready, delayed or in backoff) out of a stopped queue.

        Returns them in priority, then enqueue order, with ``remaining_delay`` the
        seconds until each becomes available; they are removed from the queue.

        Raises:
          RuntimeError: while the queue has not stopped.
          BackendUnavailableError: the backend cannot be reached.
          BackendRefusedError: the backend refused it (permissions, memory full, a
            read-only replica); nothing was changed.
        """
        await trio.lowlevel.checkpoint()
        if self._state is not LifeState.STOPPED:
            msg = f"export_pending() needs a stopped queue; call stop() on {self.name!r} first"
            raise RuntimeError(msg)
        return await self.storage.export_pending()


def _ack_by_settle(storage: InProcessStorage, delivery: Delivery) -> None:
    storage.settle_nowait(delivery, Settle.ACK, None)


def _failed_entry(entry: object) -> tuple[str, str]:
    """One ``(job_id, consumer_group)`` pair of ``drop_failed_jobs``, checked."""
    shown_entry = policy.shown(entry)
    pair = cast("Sequence[object]", entry) if isinstance(entry, tuple | list) else ()
    if len(pair) != 2:
        msg = f"an entry must be a pair (job_id, consumer_group), not {shown_entry}"
        raise policy.ArgumentTypeError(msg)
    job_id, group = pair
    checked = policy.check_job_id(job_id, required=True)
    assert checked is not None
    return checked, policy.check_name("consumer_group", group)
