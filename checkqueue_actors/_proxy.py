"""QueueProxy: a stable reference to one managed queue, whatever backend runs it.

A proxy delegates every call to its current backend queue (its delegate). Its
life is a small state machine (``ProxyState``): every state and every
transition is named below, and ``QueueProxy._fire`` is the one place that
changes the state, opening or closing the gate calls wait at to match it.

A switch, for one proxy (``QueueProxy._switch``; the manager switches its
proxies concurrently, so a handler of one old queue calling another proxy never
waits for its own queue to stop):

1. ACTIVE -> DRAINING: the old queue stops gracefully; meanwhile calls still
   reach it, so its running handlers may enqueue and schedule without
   deadlocking, and a ``consume`` is only recorded;
2. DRAINING -> SWITCHING: the gate closes (calls made from now on wait), and
   calls still in flight on the old queue finish;
3. its recurring jobs (with details) and pending jobs (``export_pending``) are
   read from the stopped old queue, through the public protocol only;
4. the new queue, already started by the manager, is installed and every
   subscription is replayed (every consumer of every group);
5. the migration plan (``_migration.plan_migration``, which decides how each job
   is recreated) is performed on the new queue; a failed operation becomes a
   warning;
6. SWITCHING -> ACTIVE: the gate opens.

``stop()`` may come at any point: the proxy is then STOPPED for good, a switch
under way still moves its jobs to the new queue and then stops that queue too.
"""

from __future__ import annotations

import enum
import inspect
import logging
import math
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    NoReturn,
    TypeVar,
    assert_never,
    cast,
    final,
)

import trio

from ._clock import WallClock
from ._errors import QueueStoppedError
from ._migration import (
    FAILED_COUNT_MAX,
    ConsumerReplayFailed,
    EnqueueOccurrence,
    EnqueuePending,
    ExportFailed,
    ExportMissing,
    ExportNotImplemented,
    GraceNotSupported,
    MigrationReport,
    MoveFailed,
    OldQueueStopFailed,
    PauseNotCarried,
    RecurringDetailsFailed,
    RecurringListFailed,
    ScheduleRecurring,
    Subscription,
    delay_multiplier_of,
    plan_migration,
    settle,
)
from ._queue_base import check_grace_period, current_handler_queue
from ._state.policy import check_consume_args, check_job_options

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from types import TracebackType

    from ._migration import MigrationPlan, Operation, SwitchError
    from ._model import (
        FailedJob,
        JobInfo,
        JobState,
        PendingJob,
        QueueStats,
        RecurringJobDetails,
    )
    from ._protocols import Handler, Queue
    from ._storage import PauseState

__all__ = ["ProxyEvent", "ProxyState", "QueueProxy"]

logger = logging.getLogger("checkqueue_actors")

T = TypeVar("T")
R = TypeVar("R")


class ProxyState(enum.Enum):
    """Where a proxy is in its life."""

    NEW = "new"
    """Created while a switch ran: no queue yet (calls wait for the one the switch brings)."""
    ACTIVE = "active"
    """Calls go to the delegate."""
    DRAINING = "draining"
    """A switch is stopping the old delegate: calls still reach it, ``consume`` is recorded."""
    SWITCHING = "switching"
    """The old delegate stopped: calls wait while the jobs move to the new one."""
    STOPPED = "stopped"
    """For good: calls raise ``QueueStoppedError``, reads answer from the stopped queue."""


class ProxyEvent(enum.Enum):
    """What moves a proxy from one state to another."""

    ATTACH = "attach"
    """The manager gives a NEW proxy its first queue."""
    BEGIN_DRAIN = "begin drain"
    """A switch begins stopping the old delegate."""
    BEGIN_MOVE = "begin move"
    """The old delegate stopped (or there was none): the gate closes for the move."""
    END_SWITCH = "end switch"
    """The switch is over (the new delegate installed, or the switch interrupted)."""
    STOP = "stop"
    """``stop()``, or the manager's shutdown."""


_TRANSITIONS: Final[Mapping[ProxyState, Mapping[ProxyEvent, ProxyState]]] = {
    ProxyState.NEW: {
        ProxyEvent.ATTACH: ProxyState.ACTIVE,
        # switch_delegate on a proxy that has no queue yet: nothing to drain
        ProxyEvent.BEGIN_MOVE: ProxyState.SWITCHING,
        ProxyEvent.STOP: ProxyState.STOPPED,
    },
    ProxyState.ACTIVE: {
        ProxyEvent.BEGIN_DRAIN: ProxyState.DRAINING,
        ProxyEvent.STOP: ProxyState.STOPPED,
    },
    ProxyState.DRAINING: {
        ProxyEvent.BEGIN_MOVE: ProxyState.SWITCHING,
        # interrupted (cancelled) while the old delegate stopped
        ProxyEvent.END_SWITCH: ProxyState.ACTIVE,
        ProxyEvent.STOP: ProxyState.STOPPED,
    },
    ProxyState.SWITCHING: {
        ProxyEvent.END_SWITCH: ProxyState.ACTIVE,
        ProxyEvent.STOP: ProxyState.STOPPED,
    },
    # Stopped is for good: a switch under way goes on moving the jobs, and stays stopped.
    ProxyState.STOPPED: {
        ProxyEvent.BEGIN_DRAIN: ProxyState.STOPPED,
        ProxyEvent.BEGIN_MOVE: ProxyState.STOPPED,
        ProxyEvent.END_SWITCH: ProxyState.STOPPED,
        ProxyEvent.STOP: ProxyState.STOPPED,
    },
}
"""Every allowed transition: ``_TRANSITIONS[state][event]`` is the state after ``event``."""

_GATE_OPEN: Final = frozenset({ProxyState.ACTIVE, ProxyState.DRAINING, ProxyState.STOPPED})
"""The states in which calls do not wait (a stopped proxy's calls raise at once)."""


@final
class QueueProxy(Generic[T]):
    """A stable reference to a managed queue, whatever backend runs it.

    Implements the ``Queue`` protocol by delegating every call to the current
    backend queue. It records every subscription (each ``consume`` call) and the
    calls in flight, so that ``switch_delegate`` can wait for them, stop the old
    queue gracefully and replay the subscriptions on the new one. Get one with
    ``QueueManager.get_queue``; never construct it yourself.

    Its lifetime belongs to the manager: ``stop()`` stops this one queue for
    good (later calls raise ``QueueStoppedError``, and switches leave it alone),
    and ``async with proxy`` or ``nursery.start(proxy.run)`` raise ``RuntimeError``.
    """

    def __init__(
        self,
        name: str,
        delegate: Queue[T] | None,
        starter: Callable[[Queue[Any]], Awaitable[None]],
    ) -> None:
        self._name = name
        self._delegate = delegate
        self._generation = 0
        """Counts the delegates installed, so a call can tell that its delegate was replaced."""
        self._starter = starter
        self._subscriptions: list[Subscription[T]] = []
        self._state = ProxyState.ACTIVE if delegate is not None else ProxyState.NEW
        self._gate = trio.Event()
        """Set while calls may go on (see ``_GATE_OPEN``); replaced by a fresh event to close."""
        if self._state in _GATE_OPEN:
            self._gate.set()
        self._in_flight = 0
        self._idle: trio.Event | None = None
        self._switch_lock = trio.Lock()

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    @property
    def consumer_groups(self) -> dict[str, int]:
        """The groups this proxy's ``consume`` calls joined (in this process), each with
        its number of consumers, in the order first joined."""
        groups: dict[str, int] = {}
        for subscription in self._subscriptions:
            name = subscription.consumer_group
            groups[name] = groups.get(name, 0) + 1
        return groups

    @staticmethod
    def current_queue_of(queue: object) -> object:
        """The backend queue a ``QueueProxy`` runs on now (``None`` before it has one),
        or ``queue`` itself when it is not a proxy.

        For tools that read a backend queue's own counters (the dashboard); calls made
        on the backend queue directly would bypass the proxy's handling of switches.
        """
        if isinstance(queue, QueueProxy):
            return queue._current()
        return queue

    def _current(self) -> object:
        return self._delegate

    def __repr__(self) -> str:
        return f"<QueueProxy {self._name!r} {self._state.value} -> {self._delegate!r}>"

    # -- states -------------------------------------------------------------------------------

    def _fire(self, event: ProxyEvent) -> None:
        """Make the transition ``event`` calls for, and open or close the gate to match.

        Raises:
          RuntimeError: for an event the current state does not allow (a bug).
        """
        new = _TRANSITIONS[self._state].get(event)
        if new is None:
            msg = (
                f"queue proxy {self._name!r}: {event.value!r} is not possible "
                f"when {self._state.value}"
            )
            raise RuntimeError(msg)
        self._state = new
        if new in _GATE_OPEN:
            self._gate.set()  # waiters wake up (and see a stop, if that is what happened)
        elif self._gate.is_set():
            self._gate = trio.Event()

    def _is_stopped(self) -> bool:
        """For the manager; a method, so type checkers keep no narrowing across awaits."""
        return self._state is ProxyState.STOPPED

    def _awaits_first_queue(self) -> bool:
        """For the manager: True while the proxy is NEW (no queue, not stopped)."""
        return self._state is ProxyState.NEW

    def _runs_on(self, queue: object) -> bool:
        """For the manager: True when ``queue`` is this proxy's delegate."""
        return self._delegate is queue

    def _install(self, queue: Queue[T]) -> None:
        """Make ``queue`` the delegate (calls on the previous one may then retry)."""
        self._delegate = queue
        self._generation += 1

    # -- lifetime: owned by the manager -----------------------------------------------------

    def _refuse_lifetime(self) -> NoReturn:
        msg = (
            f"queue proxy {self._name!r} is run by its QueueManager; "
            "use the manager's lifetime (open_queue_manager), not the proxy's"
        )
        raise RuntimeError(msg)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refused: the manager runs the queue behind a proxy.

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def __aenter__(self) -> QueueProxy[T]:
        """Refused: the manager runs the queue behind a proxy.

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Refused (never reached, since entering is refused).

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def stop(self, *, grace_period: float | None = None) -> None:
        """Stop this one queue gracefully, for good; idempotent, never waits for a switch.

        Running handlers finish (with a ``grace_period``, those still running once it
        has passed are cancelled and their deliveries released, as ``Queue.stop``
        says); later calls raise ``QueueStoppedError``; a backend switch leaves this
        proxy stopped. Pending jobs stay in the stopped queue (``export_pending``
        takes them out).

        Raises:
          ValueError: for a ``grace_period`` that is not ``None`` or a number >= 0
            (nothing changes).
        """
        grace = check_grace_period(grace_period)
        self._fire(ProxyEvent.STOP)
        delegate = self._delegate
        if delegate is None:
            await trio.lowlevel.checkpoint()
            return
        await _stop_queue(delegate, grace)

    def _attach(self, queue: Queue[T]) -> None:
        """For the manager: give a NEW proxy its first delegate (already started).

        Raises:
          RuntimeError: unless the proxy is NEW.
        """
        self._fire(ProxyEvent.ATTACH)
        self._install(queue)

    def _abandon(self) -> None:
        """For the manager: it shut down before this proxy got a queue; stop for good."""
        self._fire(ProxyEvent.STOP)

    # -- delegation ---------------------------------------------------------------------------

    def _stopped_error(self) -> QueueStoppedError:
        return QueueStoppedError(f"queue {self._name!r} has been stopped")

    async def _call(self, op: Callable[[Queue[T]], Awaitable[R]]) -> R:
        """Run ``op`` on the current delegate, waiting while a switch holds the gate."""
        while True:
            gate = self._gate
            if not gate.is_set():
                await gate.wait()
                continue  # the gate may have been closed again by a later switch
            state = self._state
            if state is ProxyState.STOPPED:
                raise self._stopped_error()
            delegate = self._delegate
            assert delegate is not None  # the gate opens only once there is one
            generation = self._generation
            self._in_flight += 1
            try:
                return await op(delegate)
            except QueueStoppedError:
                # The old delegate stopped under this call because of a switch: nothing was
                # done, so the call goes to the new delegate (calls made after the old queue
                # stopped wait for the switch and go to the new backend).
                state = self._state
                if state is ProxyState.STOPPED or (
                    state is not ProxyState.SWITCHING and self._generation == generation
                ):
                    raise
            finally:
                self._in_flight -= 1
                if self._in_flight == 0 and self._idle is not None:
                    self._idle.set()

    async def _read(self, op: Callable[[Queue[T]], Awaitable[R]]) -> R:
        """Like ``_call``, but a stopped proxy still answers from its stopped queue, as a
        stopped queue itself does (stats and recurring details stay readable)."""
        delegate = self._delegate
        if self._state is ProxyState.STOPPED and delegate is not None:
            return await op(delegate)
        return await self._call(op)

    async def _wait_idle(self) -> None:
        while self._in_flight > 0:
            self._idle = trio.Event()
            await self._idle.wait()
        self._idle = None

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
        """Add a job to the active backend and return its id.

        Args:
          data: The payload.
          priority: Higher runs first.
          start_delay: Seconds before the job becomes ready.
          job_id: Dedup key (see ``Queue.enqueue``).
          timeout: Seconds one delivery may run (see ``Queue.enqueue``); kept through
            backend switches.
          headers: String metadata carried with the job (see ``Queue.enqueue``); kept
            through backend switches.
        Returns:
          The job id.
        Raises:
          ValueError: for a non-int priority, a bad delay, timeout or headers.
          QueueFullError: when the backend's ``max_queue_size`` jobs are pending.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        Cancellation:
          While a switch holds the gate the call waits; cancelling it then does nothing.
        """
        if timeout is None and headers is None:
            return await self._call(
                lambda q: q.enqueue(data, priority=priority, start_delay=start_delay, job_id=job_id)
            )
        check_job_options(timeout, headers)  # a bad one raises now, whichever backend is active
        return await self._call(
            lambda q: q.enqueue(
                data,
                priority=priority,
                start_delay=start_delay,
                job_id=job_id,
                timeout=timeout,
                headers=headers,
            )
        )

    async def consume(
        self,
        handler: Handler[T],
        *,
        consumer_group: str,
        max_retries: int = 3,
        timeout: float | None = None,  # noqa: ASYNC109  # the group's delivery timeout
    ) -> None:
        """Register one consumer in ``consumer_group``; it is replayed after every switch.

        ``timeout`` is the group's delivery timeout (see ``Queue.consume``).

        Raises:
          ValueError: for a bad argument, or a ``max_retries`` or ``timeout`` other than
            the group's.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        checked_timeout = check_consume_args(handler, consumer_group, max_retries, timeout)
        subscription = Subscription(handler, consumer_group, max_retries, checked_timeout)
        if self._state is ProxyState.DRAINING:
            # The old queue no longer takes consumers while it stops, and waiting for the new
            # one could deadlock a handler of the old queue (the switch waits for it): record
            # the consumer now; the switch replays it on the new queue.
            for known in self._subscriptions:
                if known.consumer_group == consumer_group and known.max_retries != max_retries:
                    msg = (
                        f"consumer group {consumer_group!r} has max_retries={known.max_retries}; "
                        f"a consumer cannot join it with max_retries={max_retries}"
                    )
                    raise ValueError(msg)
                if known.consumer_group == consumer_group and known.timeout != checked_timeout:
                    msg = (
                        f"consumer group {consumer_group!r} has timeout={known.timeout}; "
                        f"a consumer cannot join it with timeout={checked_timeout}"
                    )
                    raise ValueError(msg)
            self._subscriptions.append(subscription)
            await trio.lowlevel.checkpoint()
            return

        async def op(queue: Queue[T]) -> None:
            await _consume(queue, subscription)
            self._subscriptions.append(subscription)

        await self._call(op)

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
        """Declare (or replace) a recurring job on the active backend; it survives switches.

        Returns:
          ``job_id``.
        Raises:
          ValueError: unless exactly one of ``interval_seconds`` and ``cron_pattern``
            is given, or for a bad ``start_delay`` or priority.
          InvalidScheduleError: for an invalid cron pattern or unknown timezone.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        return await self._call(
            lambda q: q.schedule_recurring(
                data,
                job_id=job_id,
                interval_seconds=interval_seconds,
                cron_pattern=cron_pattern,
                timezone=timezone,
                start_delay=start_delay,
                priority=priority,
            )
        )

    async def cancel_recurring(self, job_id: str) -> None:
        """Cancel a recurring job; unknown ids are a no-op.

        Raises:
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        await self._call(lambda q: q.cancel_recurring(job_id))

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs (of the stopped queue after ``stop()``).

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.list_recurring_jobs())

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of a recurring job, ``None`` when unknown or cancelled.

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_recurring_job_details(job_id))

    async def get_in_flight_count(self) -> int:
        """Handlers of this queue running now (on the active backend).

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_in_flight_count())

    async def get_stats(self) -> QueueStats:
        """The active backend queue's counters (lifetime counts restart after a switch).

        After ``stop()`` they are the stopped queue's, as for a queue.

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_stats())

    async def get_failed_jobs(
        self, limit: int = 100, *, consumer_group: str | None = None
    ) -> list[FailedJob[T]]:
        """The newest entries of the active backend queue's failed-jobs record, newest
        first (see ``Queue.get_failed_jobs``). The record does not move with a switch.

        Raises:
          ValueError: for a bad ``limit`` or group name.
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(
            lambda q: q.get_failed_jobs(limit=limit, consumer_group=consumer_group)
        )

    async def retry_failed_job(self, job_id: str, consumer_group: str) -> bool:
        """Run a failed job again in ``consumer_group`` only, attempts from 0 (see
        ``Queue.retry_failed_job``).

        Raises:
          ValueError: the group does not exist, or a bad id or group name.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        return await self._call(lambda q: q.retry_failed_job(job_id, consumer_group=consumer_group))

    async def drop_failed_jobs(
        self,
        entries: Sequence[tuple[str, str]] | None = None,
        *,
        consumer_group: str | None = None,
    ) -> int:
        """Remove entries from the failed-jobs record: those of ``consumer_group``, every
        entry when None, or only the ``(job_id, consumer_group)`` pairs of ``entries``
        where the active queue accepts them (see ``Queue.drop_failed_jobs``).

        Raises:
          ValueError: for bad entries or a bad group name.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        if entries is None:
            return await self._call(lambda q: q.drop_failed_jobs(consumer_group=consumer_group))
        pairs = list(entries)

        async def op(queue: Queue[T]) -> int:
            # the built-in queues take entries too (the protocol does not promise them)
            drop = cast("Callable[..., Awaitable[int]]", queue.drop_failed_jobs)
            result: int = await drop(pairs, consumer_group=consumer_group)
            return result

        return await self._call(op)

    # -- job control --------------------------------------------------------------------------

    async def pause(self, consumer_group: str | None = None) -> None:
        """Pause ``consumer_group`` (every group when None) on the active backend; a
        switch carries the pause over (see ``Queue.pause``).

        Raises:
          ValueError: for a bad group name.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        await self._call(lambda q: q.pause(consumer_group))

    async def resume(self, consumer_group: str | None = None) -> None:
        """Undo ``pause`` (see ``Queue.resume``).

        Raises:
          ValueError: for a bad group name.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        await self._call(lambda q: q.resume(consumer_group))

    async def is_paused(self, consumer_group: str | None = None) -> bool:
        """True when ``consumer_group`` (the whole queue, for None) is paused (see
        ``Queue.is_paused``).

        Raises:
          ValueError: for a bad group name.
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.is_paused(consumer_group))

    async def get_job(self, job_id: str) -> JobInfo[T] | None:
        """Where the job stands in each group, on the active backend (see ``Queue.get_job``).

        Raises:
          ValueError: for a bad id.
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_job(job_id))

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        consumer_group: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo[T]]:
        """Jobs by state on the active backend (see ``Queue.list_jobs``).

        Raises:
          ValueError: for a bad state, group name or limit.
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(
            lambda q: q.list_jobs(state=state, consumer_group=consumer_group, limit=limit)
        )

    async def cancel_job(self, job_id: str) -> bool:
        """Cancel a job on the active backend (see ``Queue.cancel_job``).

        Raises:
          ValueError: for a bad id.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        return await self._call(lambda q: q.cancel_job(job_id))

    async def test_connection(self) -> None:
        """Probe the active backend; never waits for a switch.

        Raises:
          BackendUnavailableError: when the backend cannot be reached.
        """
        delegate = self._delegate
        if delegate is None:  # created during a switch: the backend comes with the switch
            await self._gate.wait()
            delegate = self._delegate
            if delegate is None:
                raise self._stopped_error()
        await delegate.test_connection()

    async def export_pending(self) -> list[PendingJob[T]]:
        """After ``stop()``: take the jobs still pending out of the stopped queue.

        Raises:
          RuntimeError: while the queue has not been stopped.
        """
        delegate = self._delegate
        if self._state is ProxyState.STOPPED:
            if delegate is None:
                await trio.lowlevel.checkpoint()
                return []
            return await delegate.export_pending()
        return await self._call(lambda q: q.export_pending())

    # -- switching ----------------------------------------------------------------------------

    async def switch_delegate(
        self, new_queue: Queue[T], *, grace_period: float | None = None
    ) -> None:
        """Move this proxy to ``new_queue``, losing nothing.

        Waits for the calls in flight, stops the old queue gracefully (calls made
        meanwhile still reach it), moves its recurring and pending jobs over,
        installs ``new_queue`` and replays every subscription. Calls made after
        the old queue stopped wait and go to ``new_queue``. What could not be
        moved is logged as a warning (``QueueManager.set_active_backend`` reports it).

        Args:
          new_queue: A queue that has not been started: the manager starts it in
            its nursery and owns it from then on.
          grace_period: Seconds the old queue's running handlers may take (see
            ``Queue.stop``); ``None`` waits for them however long they take.
        Raises:
          ValueError: for a ``grace_period`` that is not ``None`` or a number >= 0.
          QueueStoppedError: if this proxy was stopped.
          RuntimeError: if ``new_queue`` was already started, or when called from inside
            a handler of this proxy's queue (the switch waits for that handler to finish,
            so it would never return); nothing changes.
        """
        grace = check_grace_period(grace_period)
        if self._state is ProxyState.STOPPED:
            raise self._stopped_error()
        if self._delegate is not None and current_handler_queue.get() is self._delegate:
            msg = (
                f"switch_delegate() cannot be called from inside a handler of queue "
                f"{self._name!r}: it waits for the running handlers to finish, this one "
                "included, so it would never return"
            )
            raise RuntimeError(msg)
        await self._starter(new_queue)
        report = await self._switch(
            new_queue, delay_multiplier_of(getattr(new_queue, "config", None)), grace
        )
        for warning in report.warnings:
            logger.warning("%s", warning)

    async def _switch(
        self, new: Queue[T], delay_multiplier: float, grace_period: float | None = None
    ) -> MigrationReport:
        """For the manager: switch to the started queue ``new``; see the module docstring.

        ``grace_period`` (checked by the caller) bounds how long the old queue's
        running handlers may take.
        """
        async with self._switch_lock:
            if self._state is ProxyState.STOPPED:
                await new.stop()
                return MigrationReport()
            old = self._delegate
            errors: list[SwitchError] = []
            running = 0
            released: list[tuple[str, str]] = []
            if old is not None:
                try:
                    running = await old.get_in_flight_count()
                except Exception:
                    running = 0
            try:
                if old is not None:
                    self._fire(ProxyEvent.BEGIN_DRAIN)
                    try:
                        if not await _stop_queue(old, grace_period):
                            assert grace_period is not None
                            errors.append(GraceNotSupported(grace_period))
                    except Exception as exc:
                        errors.append(OldQueueStopFailed(exc))
                    released = list(getattr(old, "interrupted_deliveries", ()))
                # From here (no checkpoint since the old queue stopped) calls wait for the new one.
                self._fire(ProxyEvent.BEGIN_MOVE)
                await self._wait_idle()
                recurring: list[RecurringJobDetails[T]] = []
                pending: list[PendingJob[T]] = []
                if old is not None:
                    recurring = await _read_recurring(old, errors)
                    pending = await _read_pending(old, errors)
                failed_left = await _count_failed(old) if old is not None else 0
                subscriptions = list(self._subscriptions)
                if old is not None:
                    # before any consumer joins the new queue: a paused group never starts
                    # a delivery there
                    await _carry_pause(old, new, subscriptions, errors)
                self._install(new)
                for sub in subscriptions:
                    try:
                        await _consume(new, sub)
                    except Exception as exc:
                        errors.append(ConsumerReplayFailed(sub.consumer_group, exc))
                plan = plan_migration(
                    self._name,
                    recurring=recurring,
                    pending=pending,
                    subscriptions=subscriptions,
                    now=WallClock().now(),
                    delay_multiplier=delay_multiplier,
                    running=running,
                    released=released,
                    grace_period=grace_period,
                    errors=errors,
                    failed_left=failed_left,
                )
                report = await _perform_plan(new, plan)
            finally:
                self._fire(ProxyEvent.END_SWITCH)
            if self._is_stopped():  # stop() came during the switch: the new queue stops too
                await new.stop()
            return report


def _takes_grace_period(stop: Callable[..., object]) -> bool:
    """True when a queue's ``stop`` accepts ``grace_period`` (a third-party queue may not)."""
    try:
        parameters = inspect.signature(stop).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "grace_period" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


async def _stop_queue(queue: Queue[Any], grace_period: float | None) -> bool:
    """Stop ``queue``, with ``grace_period`` when one is given.

    Returns:
      False when a finite grace period was given but the queue's ``stop`` takes none
      (it was stopped without one, waiting for its handlers).
    """
    if grace_period is None or math.isinf(grace_period):
        await queue.stop()
        return True
    if _takes_grace_period(queue.stop):
        await queue.stop(grace_period=grace_period)
        return True
    await queue.stop()
    return False


async def _count_failed(old: Queue[Any]) -> int:
    """Entries of the stopped ``old`` queue's failed-jobs record, up to ``FAILED_COUNT_MAX``
    (0 for a queue without one, or whose record cannot be read)."""
    read = getattr(old, "get_failed_jobs", None)
    if read is None:
        return 0
    try:
        return len(await read(limit=FAILED_COUNT_MAX))
    except Exception:
        logger.warning(
            "queue %r: cannot read the old backend's failed-jobs record", old.name, exc_info=True
        )
        return 0


async def _carry_pause(
    old: Queue[T],
    new: Queue[T],
    subscriptions: Sequence[Subscription[T]],
    errors: list[SwitchError],
) -> None:
    """Pause on ``new`` what is paused on ``old``: the whole queue, and each group paused
    on its own (every group of the old backend when it runs on the one runtime, the
    groups consumed through this proxy otherwise)."""
    try:
        storage = getattr(old, "storage", None)
        read = getattr(storage, "pause_state", None)
        if read is not None:
            state = cast("PauseState", await read())
            queue_paused, groups = state.queue, sorted(state.groups)
        else:
            queue_paused = await old.is_paused()
            names = sorted({sub.consumer_group for sub in subscriptions})
            groups = [name for name in names if await old.is_paused(name)]
        for group in groups:
            await new.pause(group)
        if queue_paused:
            await new.pause()
    except Exception as exc:
        errors.append(PauseNotCarried(exc))


async def _read_recurring(old: Queue[T], errors: list[SwitchError]) -> list[RecurringJobDetails[T]]:
    """The details of every recurring job of the stopped ``old`` queue; errors are recorded."""
    try:
        ids = await old.list_recurring_jobs()
    except Exception as exc:
        errors.append(RecurringListFailed(exc))
        return []
    found: list[RecurringJobDetails[T]] = []
    for job_id in ids:
        try:
            details = await old.get_recurring_job_details(job_id)
        except Exception as exc:
            errors.append(RecurringDetailsFailed(job_id, exc))
            continue
        if details is not None:
            found.append(details)
    return found


async def _read_pending(old: Queue[T], errors: list[SwitchError]) -> list[PendingJob[T]]:
    """The jobs still pending in the stopped ``old`` queue; errors are recorded."""
    export: Callable[[], Awaitable[list[PendingJob[T]]]] | None = getattr(
        old, "export_pending", None
    )
    if export is None:
        errors.append(ExportMissing())
        return []
    try:
        return await export()
    except NotImplementedError:
        errors.append(ExportNotImplemented())
    except Exception as exc:
        errors.append(ExportFailed(exc))
    return []


async def _consume(queue: Queue[T], sub: Subscription[T]) -> None:
    """``queue.consume`` as ``sub`` was made (``timeout`` passed only when given: a
    third-party queue may not take it)."""
    if sub.timeout is None:
        await queue.consume(
            sub.handler, consumer_group=sub.consumer_group, max_retries=sub.max_retries
        )
    else:
        await queue.consume(
            sub.handler,
            consumer_group=sub.consumer_group,
            max_retries=sub.max_retries,
            timeout=sub.timeout,
        )


async def _perform_plan(new: Queue[T], plan: MigrationPlan[T]) -> MigrationReport:
    """Perform every move of ``plan`` on ``new``; a move that raises is reported, not raised."""
    failed: list[MoveFailed[T]] = []
    widened: list[str] = []
    for move in plan.moves:
        try:
            for operation in move.operations:
                if not await _perform(new, operation):
                    widened.append(move.job_id)
        except Exception as exc:
            failed.append(MoveFailed(move, exc))
    return settle(plan, failed, widened)


async def _perform(queue: Queue[T], operation: Operation[T]) -> bool:
    """Make the one call on ``queue`` that ``operation`` describes.

    Returns:
      False when a job owed by named groups only went to every group, because the
      queue has no ``enqueue_for_groups`` (a third-party backend's).
    """
    match operation:
        case ScheduleRecurring():
            await queue.schedule_recurring(
                operation.data,
                job_id=operation.job_id,
                interval_seconds=operation.interval_seconds,
                cron_pattern=operation.cron_pattern,
                timezone=operation.timezone,
                start_delay=operation.start_delay,
                priority=operation.priority,
            )
        case EnqueueOccurrence():
            await queue.enqueue(
                operation.data, priority=operation.priority, job_id=operation.job_id
            )
        case EnqueuePending():
            # passed only when the job has them: a third-party queue may not take them
            options: dict[str, Any] = {}
            if operation.timeout is not None:
                options["timeout"] = operation.timeout
            if operation.headers:
                options["headers"] = operation.headers
            groups = operation.groups
            enqueue_for: Callable[..., Awaitable[str]] | None = (
                None if groups is None else getattr(queue, "enqueue_for_groups", None)
            )
            if enqueue_for is not None:
                await enqueue_for(
                    operation.data,
                    groups=groups,
                    priority=operation.priority,
                    start_delay=operation.start_delay,
                    job_id=operation.job_id,
                    **options,
                )
                return True
            await queue.enqueue(
                operation.data,
                priority=operation.priority,
                start_delay=operation.start_delay,
                job_id=operation.job_id,
                **options,
            )
            return groups is None
        case _:
            assert_never(operation)
    return True
