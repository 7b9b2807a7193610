"""QueueStateMachine: random interleavings of queue calls checked against a reference model.

Subclass it, give it your backend's queue factory, and expose its ``TestCase``::

    class MemoryMachine(QueueStateMachine):
        def make_queue(self, name, *, concurrency, max_queue_size, delay_multiplier):
            return InMemoryQueue(name, InMemoryQueueConfig(
                concurrency=concurrency, max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier))

    TestMemoryMachine = MemoryMachine.TestCase

Design: the machine is synchronous (no hypothesis-trio). Each example starts one
``trio.run`` in a helper thread and every rule runs coroutines in it through
``trio.from_thread.run``, so the queue lives across steps. Handlers only *record*
what happens to them (start and end, with the time, the group, the consumer and
``attempts``); after each step the model replays those records and checks every one.

Each example begins with ``setup`` (an ``initialize`` rule): it draws the queue's
settings (``delay_multiplier``, ``concurrency``, ``max_queue_size``), may enqueue a
few jobs before any group exists, registers zero to three groups (each with one to
three consumers and its ``max_retries``) and may enqueue a backlog with
``enqueue_many``. Then rules enqueue jobs (priorities, delays, reused job ids,
handlers that fail a chosen number of times per group and take a chosen time),
enqueue batches, add consumers and groups, let time pass, declare, re-declare and
cancel recurring jobs (interval and cron), and, rarely and late, ``stop`` the queue
(also while handlers are busy), then check ``export_pending``.

In ``"virtual"`` mode the run uses a ``MockClock`` that only moves inside ``advance``
and ``stop`` (autojump is switched on just for them), and after each step the
machine waits for ``wait_all_tasks_blocked``: the queue is then quiescent, and the
model checks, for every delivery: the job, the group and ``attempts`` are due (per
group retries with a ``2 ** attempt`` second backoff up to the group's
``max_retries``), the start time is exactly when the job became available unless
every slot was busy all along, no better job of the group (priority, then
availability, then enqueue order) that was visible was left waiting, at most
``concurrency`` handlers run, consumers of a group take turns; and after each step:
nothing due is left waiting while a slot is free, and every counter of
``get_stats()``. Times are in unscaled seconds: the queue's ``delay_multiplier``
(drawn per example) scales delays, backoff, intervals and handler run times, and a
backend that ignores it is caught. Cron marks follow the wall clock, which the
machine pins for its run (trio time 0 is 2030-01-01T00:00:00Z). Importing Hypothesis
makes trio's scheduler deterministic, so failures shrink and replay.

In ``"real"`` mode (backends whose time lives elsewhere) the run uses the real clock,
``advance`` sleeps ``seconds * delay_multiplier``, each step checks safety (no
delivery the model does not allow, none twice, none before it is due minus
``real_early_tolerance``, none later than ``real_late_tolerance`` after it was due),
and teardown waits for every delivery the model expects, then checks the counters.
Recurring jobs and handler run times are not used in this mode. Use a
``max_queue_size`` of at least 100 there (fullness is racy on a real clock).

The share of examples that deliver at least one job is reported as a Hypothesis
event (``pytest --hypothesis-show-statistics``). A failing example prints as a script
of the rules, e.g.
``state.enqueue(delay=2, duration=0, fails=(0, 3, 0), job_id='j1', priority=1)``.
"""

from __future__ import annotations

import bisect
import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import attrs
import trio
import trio.lowlevel
import trio.testing
from hypothesis import event, note, target
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from .._clock import _virtual_anchor  # pyright: ignore[reportPrivateUsage]
from .._errors import QueueFullError, QueueStoppedError
from ._recording import HandlerFailure

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._model import JobInfo, PendingJob, QueueJob, QueueStats
    from .._protocols import Queue
    from .conformance import TimeMode

__all__ = ["QueueStateMachine"]

R = TypeVar("R")

GROUPS = ("a", "b", "c")
JOB_IDS = ("j1", "j2", "j3", None)
RECURRING_IDS = ("r1", "r2")
CRON_IDS = ("c1",)
WALL_ANCHOR = datetime(2030, 1, 1, tzinfo=UTC)
"""The wall time of trio time 0 in virtual mode (a whole minute: cron marks are exact)."""
MULTIPLIERS = (1.0, 0.5, 0.25)
"""Virtual mode: the ``delay_multiplier`` of each example is one of these (exact floats)."""
_BIG_QUEUE = 10_000
_EPS = 1e-9

_PRIORITIES = st.integers(-1, 2)
_DELAYS = st.sampled_from([0, 0, 0, 1, 2, 5])
_FAILS = st.tuples(*[st.sampled_from([0, 0, 1, 2, 3, 9])] * len(GROUPS))
_DURATIONS = st.sampled_from([0, 0, 0, 1, 3])
_TIMEOUTS = st.sampled_from([None, 0.5, 0.5, 2])
_STATES = st.sampled_from([None, "waiting", "delayed", "running", "retrying", "failed"])
_SECTIONS = {"running": 0, "waiting": 1, "retrying": 2, "delayed": 3}
"""The order of the states in ``list_jobs()``."""

TaskState = Literal["waiting", "running", "done", "failed", "gone", "cancelled"]


class _TrioThread:
    """One trio run in a helper thread; ``call`` runs a coroutine function in it."""

    def __init__(self, clock: trio.abc.Clock | None) -> None:
        self._clock = clock
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._finish: trio.Event | None = None
        self.nursery: trio.Nursery | None = None
        self._thread = threading.Thread(target=self._main, name="QueueStateMachine", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            trio.run(self._serve, clock=self._clock)
        except BaseException as exc:  # reported to the test thread by call() / close()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._finish = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self._ready.set()
            await self._finish.wait()
            nursery.cancel_scope.cancel()

    def call(self, fn: Callable[[], Awaitable[R]]) -> R:
        """Run ``await fn()`` in the trio thread and return its result (or raise)."""
        if self._error is not None:
            msg = "the queue's trio run crashed"
            raise AssertionError(msg) from self._error
        try:
            return trio.from_thread.run(fn, trio_token=self._token)
        except trio.RunFinishedError:
            msg = "the queue's trio run crashed"
            raise AssertionError(msg) from self._error

    def close(self) -> None:
        """End the run (cancelling what still runs) and join the thread."""
        if self._finish is not None and self._error is None:
            finish = self._finish
            try:
                trio.from_thread.run_sync(finish.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=60)


@attrs.frozen
class _Spec:
    """How the handlers treat a job: failures per group (in ``GROUPS`` order), run time."""

    fails: tuple[int, ...] = (0, 0, 0)
    duration: float = 0.0
    timeout: float | None = None
    """The job's own delivery timeout (unscaled seconds; virtual mode only)."""

    def fails_in(self, group: str) -> int:
        return self.fails[GROUPS.index(group)]

    def times_out(self) -> bool:
        """Every run of the job outlasts its timeout."""
        return self.timeout is not None and self.duration > self.timeout


@attrs.define(eq=False)
class _Schedule:
    """A recurring job as the model sees it."""

    serial: int
    job_id: str
    priority: int
    interval: float | None
    """Unscaled seconds between ticks (None for cron)."""
    every: int | None
    """Cron: ``*/every * * * * *`` (a wall-clock mark every ``every`` seconds)."""
    spec: _Spec
    next_tick: float
    """Model time of the next tick not yet fired."""
    active: bool = True

    @property
    def data(self) -> tuple[str, int]:
        return ("recurring", self.serial)

    @property
    def pattern(self) -> str | None:
        return f"*/{self.every} * * * * *" if self.every is not None else None


@attrs.define(eq=False)
class _Task:
    """One job in one group."""

    job: _Job
    group: str
    ready_at: float
    """Model time from which the next attempt may run."""
    key_at: float
    """The availability part of the ordering key."""
    known_step: int
    """The step in which ``ready_at`` was decided."""
    batch: object
    """Tasks of one batch became ready in one atomic operation."""
    ready_hi: float = 0.0
    """Real mode: the latest moment the next attempt became available."""
    state: TaskState = "waiting"
    attempts: int = 0
    """Deliveries started so far."""
    started_at: float = 0.0
    """Model time the running (or last) delivery started."""
    last_error: str | None = None
    """The error text of the group's last failed delivery of the job."""


@attrs.define(eq=False)
class _Job:
    seq: int
    data: Any
    priority: int
    spec: _Spec
    available_at: float
    batch: object
    step: int
    job_id: str | None = None
    """The id, once known (given, returned by enqueue, or seen by a handler)."""
    given_id: str | None = None
    stored: bool = False
    order: int = 0
    """Enqueue order among stored jobs (the last part of the ordering key)."""
    groups: list[str] | None = None
    tasks: dict[str, _Task] = attrs.Factory(dict[str, "_Task"])
    schedule: _Schedule | None = None
    tick: float = 0.0
    gone: bool = False
    """Exported, or dropped (an unstarted occurrence of a replaced or cancelled schedule)."""
    available_hi: float = 0.0
    cancelled: bool = False
    """``cancel_job`` removed it (a running delivery of it ends cancelled)."""

    def in_queue(self) -> bool:
        if not self.stored or self.gone:
            return False
        if self.groups is None:
            return True
        return any(t.state in ("waiting", "running") for t in self.tasks.values())

    def pending(self) -> bool:
        if not self.stored or self.gone:
            return False
        if self.groups is None:
            return True
        return any(t.state == "waiting" for t in self.tasks.values())

    def started(self) -> bool:
        return any(t.attempts for t in self.tasks.values())

    def describe(self) -> str:
        if self.schedule is not None:
            return f"occurrence of {self.schedule.job_id!r} due at {self.tick:g}"
        return f"job {self.seq} (id {self.job_id!r})"


@attrs.define(eq=False)
class _Group:
    name: str
    max_retries: int
    consumers: int = 1
    last_consumer: int | None = None
    """The consumer of the group's last delivery since the last join (None: any may come)."""


@attrs.frozen
class _Event:
    kind: Literal["start", "end"]
    job_id: str
    data: Any
    priority: int
    attempts: int
    group: str
    consumer: int
    time: float
    step: int
    failed: bool = False
    cancelled: bool = False
    """The handler was ended by ``trio.Cancelled`` (a timeout or ``cancel_job``)."""
    error: str | None = None
    """The error text of a failure the handler raised."""


def _note(message: str) -> None:
    """``hypothesis.note``, also when a machine is driven by hand (outside a test)."""
    try:
        note(message)
    except InvalidArgument:
        pass


def _key(task: _Task) -> tuple[int, float, int]:
    return (-task.job.priority, task.key_at, task.job.order)


class QueueStateMachine(RuleBasedStateMachine):
    """Hypothesis machine checking a queue backend against a reference model.

    Override ``make_queue``; set the class attributes below if needed.

    Attributes:
      time_mode: ``"virtual"`` (trio MockClock drives the backend) or ``"real"``.
      delay_multiplier: Real mode: passed to the queue (keep delays small, e.g. 0.01).
        Virtual mode draws it per example from ``multipliers``.
      multipliers: Virtual mode: the multipliers an example may draw.
      concurrency: Passed to the queue (virtual mode also draws 1 and 2).
      max_queue_size: Passed to the queue (virtual mode: the small size some examples
        draw, to reach it; the others use 10000).
      check_export: Call ``export_pending`` after the ``stop`` rule and check it.
      check_recurring: Virtual mode: declare interval and cron recurring jobs.
      check_timeouts: Virtual mode: give some jobs a delivery timeout shorter than their
        handler's run time.
      check_job_control: Virtual mode: pause and resume groups and the queue, cancel
        jobs, and check ``get_job``, ``list_jobs`` and ``get_failed_jobs`` against the
        model.
      check_failed_record: Virtual mode: check ``get_failed_jobs()`` after every step.
      max_failed_jobs: How many entries the backend's failed-jobs record keeps.
      real_timeout: Real mode: seconds to wait for expected deliveries at teardown.
      real_early_tolerance: Real mode: seconds a delivery may start before it is due.
      real_late_tolerance: Real mode: seconds a delivery may start after it is due.
    """

    time_mode: ClassVar[TimeMode] = "virtual"
    delay_multiplier: ClassVar[float] = 1.0
    multipliers: ClassVar[tuple[float, ...]] = MULTIPLIERS
    concurrency: ClassVar[int] = 3
    max_queue_size: ClassVar[int] = 5
    check_export: ClassVar[bool] = True
    check_recurring: ClassVar[bool] = True
    check_timeouts: ClassVar[bool] = True
    check_job_control: ClassVar[bool] = True
    check_failed_record: ClassVar[bool] = True
    max_failed_jobs: ClassVar[int] = 1000
    real_timeout: ClassVar[float] = 30.0
    real_early_tolerance: ClassVar[float] = 0.05
    real_late_tolerance: ClassVar[float] = 5.0

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        """Override: a fresh, unstarted queue of the backend under test."""
        msg = f"{type(self).__name__} must override make_queue"
        raise NotImplementedError(msg)

    def make_clock(self) -> trio.abc.Clock | None:
        """The clock of the machine's trio run (virtual mode: a MockClock moved by ``advance``)."""
        return trio.testing.MockClock() if self.time_mode == "virtual" else None

    # -- set-up and tear-down ---------------------------------------------------------------

    def __init__(self) -> None:
        super().__init__()
        if self.time_mode == "real" and self.max_queue_size < 100:
            msg = "real mode needs max_queue_size >= 100 (fullness is racy on a real clock)"
            raise ValueError(msg)
        self._virtual = self.time_mode == "virtual"
        self._clock = self.make_clock()
        self._trio = _TrioThread(self._clock)
        self.queue: Queue[Any] | None = None
        self._m = self.delay_multiplier
        self._slots = self.concurrency
        self._size = self.max_queue_size
        self._jobs: list[_Job] = []
        self._live: dict[int, _Job] = {}
        self._by_id: dict[str, _Job] = {}
        self._groups: dict[str, _Group] = {}
        self._schedules: dict[str, _Schedule] = {}
        self._serials: dict[int, _Schedule] = {}
        self._log: list[_Event] = []
        self._processed = 0
        self._starts = 0
        self._running = 0
        self._completed = 0
        self._failed = 0
        self._order = 0
        self._count_times: list[float] = [0.0]
        self._counts: list[int] = [0]
        self._handler_runs: dict[tuple[object, str], int] = {}
        self._step = 0
        self._step_start: list[float] = [0.0]
        self._now = 0.0
        self._stop_after = 0
        self._stopped_step: int | None = None
        self._stop_time = math.inf
        self._stop_returned = math.inf
        self._exported = False
        self._t0 = 0.0
        self._lo = self._hi = 0.0
        self._queue_paused = False
        self._paused_groups: set[str] = set()
        self._failed_record: dict[tuple[str, str], tuple[int, str, float]] = {}
        """(job id, group) -> (attempts, error, model time of the failure), oldest first."""

    def _start_queue(self) -> None:
        self.queue = self.make_queue(
            f"machine-{uuid.uuid4().hex[:12]}",
            concurrency=self._slots,
            max_queue_size=self._size,
            delay_multiplier=self._m,
        )
        queue = self.queue

        async def start() -> None:
            self._t0 = trio.current_time()
            if self._virtual:
                _virtual_anchor.set((self._t0, WALL_ANCHOR))
            assert self._trio.nursery is not None
            await self._trio.nursery.start(queue.run)

        self._trio.call(start)

    def teardown(self) -> None:
        """Report; real mode: wait for every expected delivery and check; then stop."""
        try:
            delivered = self._starts > 0
            try:
                event("delivered at least one job" if delivered else "delivered no job")
                target(float(self._starts), label="deliveries")
            except InvalidArgument:  # driven by hand, outside a test
                pass
            queue = self.queue
            if queue is None:
                return
            if not self._virtual and self._stopped_step is None:
                self._wait_for_expected()
            if self._stopped_step is None:
                if self._virtual:
                    # the stop rule's checks at the end of every example (what stop
                    # returns after, what export_pending hands out)
                    self.stop()
                else:
                    self._trio.call(lambda: self._jumping(queue.stop))
        finally:
            self._trio.close()

    # -- time -------------------------------------------------------------------------------

    def _model_now(self) -> float:
        return (trio.current_time() - self._t0) / self._m

    def _wall(self, model_time: float) -> datetime:
        return WALL_ANCHOR + timedelta(seconds=model_time * self._m)

    async def _jumping(self, fn: Callable[[], Awaitable[R]]) -> R:
        """Virtual mode: ``await fn()`` with the clock jumping to every deadline (bounded)."""
        clock = self._clock
        if not self._virtual or not isinstance(clock, trio.testing.MockClock):
            return await fn()
        clock.autojump_threshold = 0
        try:
            with trio.fail_after(100_000 * self._m):
                return await fn()
        except trio.TooSlowError:
            msg = "the call did not return within 100000 virtual seconds"
            raise AssertionError(msg) from None
        finally:
            clock.autojump_threshold = math.inf

    def _run_step(self, fn: Callable[[], Awaitable[R]], *, jump: bool = False) -> R:
        """Run one queue call, let the queue settle, then replay what handlers recorded."""
        self._step += 1
        self._step_start.append(self._now)

        async def step() -> R:
            self._lo = self._now if self._virtual else self._model_now()
            result = await (self._jumping(fn) if jump else fn())
            self._hi = self._now if self._virtual else self._model_now()
            if self._virtual:
                await trio.testing.wait_all_tasks_blocked()
            else:
                await trio.lowlevel.checkpoint()
            return result

        return self._trio.call(step)

    # -- handlers ---------------------------------------------------------------------------

    def _spec_of(self, job: QueueJob[Any]) -> tuple[object, _Spec]:
        data = job.data
        if isinstance(data, int) and 0 <= data < len(self._jobs):
            return data, self._jobs[data].spec
        if isinstance(data, tuple) and len(data) == 2:  # pyright: ignore[reportUnknownArgumentType]
            schedule = self._serials.get(data[1])  # pyright: ignore[reportUnknownArgumentType]
            if schedule is not None:
                return job.id, schedule.spec
        return job.id, _Spec()

    def _handler(self, group: str, consumer: int) -> Callable[[QueueJob[Any]], Awaitable[None]]:
        async def handle(job: QueueJob[Any]) -> None:
            key, spec = self._spec_of(job)
            runs = self._handler_runs[key, group] = self._handler_runs.get((key, group), 0) + 1
            fields = (job.id, job.data, job.priority, job.attempts, group, consumer)
            self._log.append(_Event("start", *fields, self._model_now(), self._step))
            try:
                if spec.duration and self._virtual:
                    await trio.sleep(spec.duration * self._m)
                else:
                    await trio.lowlevel.checkpoint()
            except trio.Cancelled:
                now = self._model_now()
                self._log.append(_Event("end", *fields, now, self._step, cancelled=True))
                raise
            failed = runs <= spec.fails_in(group)
            msg = f"{job.id} fails in group {group!r} (run {runs})"
            error = f"{HandlerFailure.__name__}: {msg}" if failed else None
            self._log.append(
                _Event("end", *fields, self._model_now(), self._step, failed, error=error)
            )
            if failed:
                raise HandlerFailure(msg)

        return handle

    # -- the model: jobs, ticks, events -----------------------------------------------------

    def _new_job(
        self,
        data: Any,
        priority: int,
        delay: float,
        spec: _Spec,
        batch: object,
        *,
        job_id: str | None = None,
        schedule: _Schedule | None = None,
        now: float | None = None,
    ) -> _Job:
        at = self._now if now is None else now
        job = _Job(
            seq=len(self._jobs),
            data=data,
            priority=priority,
            spec=spec,
            available_at=at + delay,
            batch=batch if delay == 0 else ("timer", at + delay),
            step=self._step,
            job_id=job_id,
            given_id=job_id,
            schedule=schedule,
            tick=at,
        )
        job.available_hi = job.available_at
        self._jobs.append(job)
        return job

    def _store(self, job: _Job, lo: float, hi: float) -> None:
        """The queue stored ``job``: it gets a task in every group (or waits for the first)."""
        delay = job.available_at - job.tick
        job.available_at, job.available_hi = lo + delay, hi + delay
        job.stored = True
        self._order += 1
        job.order = self._order
        self._live[job.seq] = job
        if job.job_id is not None:
            self._by_id[job.job_id] = job
        if self._groups:
            job.groups = list(self._groups)
            for name in job.groups:
                job.tasks[name] = _Task(
                    job,
                    name,
                    ready_at=job.available_at,
                    key_at=job.available_at,
                    known_step=job.step,
                    batch=job.batch,
                    ready_hi=job.available_hi,
                )

    def _tick_due(self, schedule: _Schedule, after: float) -> float:
        """The model time of the first tick strictly after ``after`` (cron: wall marks)."""
        if schedule.interval is not None:
            return schedule.next_tick + schedule.interval
        assert schedule.every is not None
        trio_after = Fraction(after) * Fraction(self._m)
        marks = math.floor(trio_after / schedule.every) + 1
        return float(Fraction(marks * schedule.every) / Fraction(self._m))

    def _fire_ticks(self, until: float) -> None:
        """Enqueue the occurrences of recurring jobs due by ``until`` (model time)."""
        until = min(until, self._stop_time)
        while True:
            due = [s for s in self._schedules.values() if s.active and s.next_tick <= until]
            if not due:
                return
            schedule = min(due, key=lambda s: s.next_tick)
            tick = schedule.next_tick
            schedule.next_tick = self._tick_due(schedule, tick)
            twin = self._by_id.get(f"{schedule.job_id}@{tick!r}")
            if twin is not None and twin.in_queue():
                continue  # the same occurrence id is still in the queue: deduplicated
            job = self._new_job(
                schedule.data,
                schedule.priority,
                0,
                schedule.spec,
                ("timer", tick),
                schedule=schedule,
                now=tick,
            )
            self._store(job, tick, tick)
            for task in job.tasks.values():
                task.known_step = self._step
            self._by_id[f"{schedule.job_id}@{tick!r}"] = job

    def _find(self, ev: _Event) -> _Job:
        """The model job a recorded delivery is of."""
        data = ev.data
        if isinstance(data, int) and not isinstance(data, bool):
            assert 0 <= data < len(self._jobs), f"a delivery of unknown data {data!r}"
            job = self._jobs[data]
            assert job.stored, (
                f"job {data} (id {job.given_id!r}) was delivered but enqueue must not have "
                f"stored it (a duplicate id, a full queue or a stopped queue)"
            )
            return job
        known = self._by_id.get(ev.job_id)
        if known is not None and known.schedule is not None:
            task = known.tasks.get(ev.group)
            if ev.kind == "end" or (task is not None and task.state == "waiting"):
                return known
            # a later occurrence may have the same id (a schedule replaced at that tick)
        assert isinstance(data, tuple), f"a delivery of unknown data {data!r}"
        schedule = self._serials.get(data[1])  # pyright: ignore[reportUnknownArgumentType]
        assert schedule is not None, f"a delivery of unknown data {data!r}"
        assert ev.job_id.startswith(f"{schedule.job_id}:"), (
            f"occurrence id {ev.job_id!r} does not start with {schedule.job_id + ':'!r}"
        )
        candidates = [
            job
            for job in self._live.values()
            if job.schedule is schedule
            and job.job_id is None
            and ev.group in job.tasks
            and job.tasks[ev.group].state == "waiting"
        ]
        if not candidates and known is not None and known.schedule is schedule:
            return known  # delivered again: reported by the caller
        assert candidates, (
            f"an occurrence of {schedule.job_id!r} ({ev.job_id!r}) was delivered to group "
            f"{ev.group!r}, which the model owes none"
        )
        job = min(candidates, key=lambda j: j.tick)
        job.job_id = ev.job_id
        self._by_id[ev.job_id] = job
        return job

    def _count_at(self, time: float) -> int:
        index = bisect.bisect_right(self._count_times, time) - 1
        return self._counts[index] if index >= 0 else 0

    def _saturated(self, since: float, until: float) -> bool:
        """Every slot was busy at every instant of ``[since, until)``."""
        if self._count_at(since) < self._slots:
            return False
        start = bisect.bisect_right(self._count_times, since)
        end = bisect.bisect_left(self._count_times, until)
        return all(count >= self._slots for count in self._counts[start:end])

    def _set_count(self, time: float) -> None:
        if self._count_times[-1] == time:
            self._counts[-1] = self._running
        else:
            self._count_times.append(time)
            self._counts.append(self._running)

    def _visible(self, other: _Task, task: _Task, time: float, step: int) -> bool:
        """Whether ``other`` was surely in the ready set when ``task`` was claimed."""
        if other.ready_at < time - _EPS:
            return True
        if other.batch == task.batch:
            return True
        return other.known_step < step and other.ready_at <= self._step_start[step] + _EPS

    def _on_start(self, ev: _Event) -> None:
        job = self._find(ev)
        what = job.describe()
        assert not job.gone, f"{what} was delivered after it left the queue"
        task = job.tasks.get(ev.group)
        assert task is not None, f"{what} was delivered to group {ev.group!r}, which it is not for"
        assert task.state == "waiting", (
            f"{what} was delivered to group {ev.group!r} while {task.state} there"
        )
        assert ev.attempts == task.attempts, (
            f"{what} in group {ev.group!r}: attempts={ev.attempts}, expected {task.attempts}"
        )
        assert ev.priority == job.priority, f"{what}: priority {ev.priority} != {job.priority}"
        if job.schedule is None:
            assert job.job_id is None or ev.job_id == job.job_id, (
                f"{what} was delivered with id {ev.job_id!r}"
            )
        group = self._groups[ev.group]
        if self._stopped_step is not None:
            late = ev.step >= self._stopped_step if self._virtual else ev.time > self._stop_returned
            assert not late, f"{what} started in group {ev.group!r} after stop()"
        if self._virtual:
            assert not self._group_paused(ev.group), (
                f"{what} started in group {ev.group!r}, which is paused"
            )
            assert task.ready_at <= ev.time + _EPS, (
                f"{what} started at {ev.time:g} in group {ev.group!r}, before it was due "
                f"at {task.ready_at:g}"
            )
            self._check_claim(task, ev)
            if group.last_consumer is not None:
                want = (group.last_consumer + 1) % group.consumers
                assert ev.consumer == want, (
                    f"group {ev.group!r} is not round-robin: consumer {group.last_consumer} "
                    f"then {ev.consumer} (expected {want})"
                )
        else:
            early = self.real_early_tolerance / self._m
            lateness = self.real_late_tolerance / self._m
            assert ev.time >= task.ready_at - early, (
                f"{what} started at {ev.time:g} in group {ev.group!r}, before it was due "
                f"at {task.ready_at:g} (unscaled seconds)"
            )
            assert ev.time <= task.ready_hi + lateness, (
                f"{what} started at {ev.time:g} in group {ev.group!r}, long after it was due "
                f"at {task.ready_hi:g} (unscaled seconds)"
            )
        group.last_consumer = ev.consumer
        self._running += 1
        assert self._running <= self._slots, (
            f"{self._running} handlers run at once (concurrency={self._slots})"
        )
        self._set_count(ev.time)
        self._starts += 1
        task.state = "running"
        task.attempts += 1
        task.started_at = ev.time

    def _check_claim(self, task: _Task, ev: _Event) -> None:
        """Virtual mode: the group's best visible job, and as soon as a slot allowed."""
        key = _key(task)
        for job in self._live.values():
            other = job.tasks.get(ev.group)
            if other is None or other is task or other.state != "waiting":
                continue
            if other.ready_at > ev.time + _EPS or _key(other) >= key:
                continue
            if (
                job.schedule is not None
                and task.job.schedule is not None
                and _key(other)[:2] == key[:2]
            ):
                continue  # occurrences ticking at one instant: their order is not defined
            assert not self._visible(other, task, ev.time, ev.step), (
                f"group {ev.group!r} started {task.job.describe()} at {ev.time:g} while "
                f"{job.describe()} waited, ready since {other.ready_at:g} "
                f"(priority {job.priority} vs {task.job.priority})"
            )
        if task.ready_at < ev.time - _EPS:
            assert self._saturated(task.ready_at, ev.time), (
                f"{task.job.describe()} was due in group {ev.group!r} at {task.ready_at:g} "
                f"but started at {ev.time:g} although a slot was free"
            )

    def _on_end(self, ev: _Event) -> None:
        job = self._find(ev)
        task = job.tasks[ev.group]
        what = job.describe()
        assert task.state == "running", f"{what} ended while {task.state}"
        self._running -= 1
        self._set_count(ev.time)
        spec = job.spec
        error = ev.error
        if ev.cancelled and job.cancelled:
            task.state = "cancelled"  # cancel_job: neither completed nor failed
            if not job.in_queue() and job.groups is not None:
                self._live.pop(job.seq, None)
            return
        if ev.cancelled:
            assert self._virtual, f"{what} was cancelled in group {ev.group!r}"
            assert spec.times_out(), (
                f"{what} was cancelled in group {ev.group!r} at {ev.time:g} although "
                f"neither a timeout nor cancel_job applies"
            )
            assert spec.timeout is not None
            due = task.started_at + spec.timeout
            assert abs(ev.time - due) < 1e-6, (
                f"{what} was cut at {ev.time:g} in group {ev.group!r}, not at its timeout ({due:g})"
            )
            error = f"JobTimeoutError: job {ev.job_id!r} ran past its timeout of " + (
                f"{spec.timeout * self._m:g} s"
            )
        else:
            assert not (self._virtual and spec.times_out()), (
                f"{what} ran {spec.duration:g} s in group {ev.group!r}, past its timeout "
                f"of {spec.timeout:g} s"
            )
        failed = ev.failed or ev.cancelled
        if failed:
            task.last_error = error
        if not failed:
            task.state = "done"
            self._completed += 1
        elif task.attempts - 1 < self._groups[ev.group].max_retries:
            task.state = "waiting"
            task.ready_at = ev.time + 2**task.attempts
            task.ready_hi = task.ready_at
            task.key_at = task.ready_at
            task.known_step = ev.step
            task.batch = ("timer", task.ready_at)
        else:
            task.state = "failed"
            self._failed += 1
            key = (ev.job_id, ev.group)
            record = self._failed_record
            record.pop(key, None)
            record[key] = (task.attempts - 1, error or "", ev.time)
            while len(record) > self.max_failed_jobs:
                del record[next(iter(record))]
        if not job.in_queue() and job.groups is not None:
            self._live.pop(job.seq, None)

    def _replay(self) -> None:
        """Check every delivery handlers recorded since the last look."""
        log = self._log
        end = len(log)
        while self._processed < end:
            ev = log[self._processed]
            self._processed += 1
            self._fire_ticks(ev.time)
            if ev.kind == "start":
                self._on_start(ev)
            else:
                self._on_end(ev)
        if self._virtual:
            self._fire_ticks(self._now)

    def _pending(self) -> list[_Job]:
        return [job for job in self._live.values() if job.pending()]

    def _check(self) -> None:
        """After a step: replay, then (virtual mode) nothing due waits and the stats agree."""
        self._replay()
        if not self._virtual:
            return
        for job in self._live.values():
            for task in job.tasks.values():
                if task.state != "running":
                    continue
                assert not job.cancelled, (
                    f"{job.describe()} still runs in group {task.group!r} after cancel_job"
                )
                timeout = job.spec.timeout
                assert timeout is None or task.started_at + timeout > self._now + _EPS, (
                    f"{job.describe()} still runs in group {task.group!r} at {self._now:g}, "
                    f"past its timeout of {timeout:g} s (started at {task.started_at:g})"
                )
        if self._stopped_step is None and self._running < self._slots:
            for job in self._live.values():
                for task in job.tasks.values():
                    if self._group_paused(task.group):
                        continue
                    assert not (task.state == "waiting" and task.ready_at <= self._now + _EPS), (
                        f"{job.describe()} is due in group {task.group!r} since "
                        f"{task.ready_at:g} but has not started at {self._now:g} "
                        f"although a slot is free"
                    )
        queue = self.queue
        assert queue is not None
        stats: QueueStats = self._trio.call(queue.get_stats)
        self._check_stats(stats, len(self._pending()))
        if self.check_failed_record:
            limit = self.max_failed_jobs
            self._check_failed(self._trio.call(lambda: queue.get_failed_jobs(limit=limit)))

    def _check_stats(self, stats: QueueStats, pending: int) -> None:
        want = (pending, self._running, self._completed, self._failed, len(self._groups))
        got = (
            stats.pending,
            stats.processing,
            stats.completed,
            stats.failed,
            stats.consumer_groups,
        )
        assert got == want, (
            f"stats (pending, processing, completed, failed, groups) {got} != {want}"
        )

    def _settled(self) -> bool:
        return all(
            task.state not in ("waiting", "running")
            for job in self._live.values()
            for task in job.tasks.values()
        )

    def _wait_for_expected(self) -> None:
        """Real mode: wait until the model expects nothing more, then check the counters."""
        queue = self.queue
        assert queue is not None

        async def nap() -> float:
            await trio.sleep(0.02)
            return trio.current_time()

        start = self._trio.call(nap)
        while True:
            self._replay()
            if self._settled() and self._running == 0:
                break
            now = self._trio.call(nap)
            if now - start >= self.real_timeout:
                raise AssertionError(
                    "deliveries the model expects did not happen within real_timeout: "
                    + ", ".join(
                        f"{job.describe()} in {task.group!r} ({task.state})"
                        for job in self._live.values()
                        for task in job.tasks.values()
                        if task.state in ("waiting", "running")
                    )
                    + self._queue_view()
                )
        # the handlers' last outcomes may reach the queue a little after they returned:
        # the counters must agree with the model once they have (within real_timeout)
        while True:
            now = self._trio.call(nap)
            self._replay()
            orphans = [job for job in self._live.values() if job.groups is None]
            try:
                self._check_stats(self._trio.call(queue.get_stats), len(orphans))
            except AssertionError:
                if now - start < self.real_timeout:
                    continue
                raise
            return

    def _queue_view(self) -> str:
        """What the queue itself says of the jobs the model still waits for (a failure
        message's evidence: stats, pause state, and each job as ``get_job`` shows it)."""
        queue = self.queue
        assert queue is not None
        ids = sorted(
            {
                job.job_id
                for job in self._live.values()
                for task in job.tasks.values()
                if task.state in ("waiting", "running") and job.job_id is not None
            }
        )

        async def look() -> list[str]:
            lines = [f"stats: {await queue.get_stats()!r}"]
            try:
                lines.append(f"paused: {await queue.is_paused()!r}")
                for job_id in ids[:20]:  # enough to see a pattern
                    lines.append(f"get_job({job_id!r}): {await queue.get_job(job_id)!r}")
            except Exception as exc:  # evidence only: the failure is reported anyway
                lines.append(f"(could not look further: {exc!r})")
            return lines

        try:
            return "\nthe queue's view:\n" + "\n".join(self._trio.call(look))
        except Exception as exc:
            return f"\n(the queue's view could not be read: {exc!r})"

    def _wait_settled(self, job: _Job) -> None:
        """Real mode: before re-using an id, wait until its job is certainly done: the
        model saw every handler of it finish, and the queue no longer holds it (a
        handler's outcome may reach a shared backend some time after the handler
        returned; until then the id is still in the queue and a new enqueue of it is a
        duplicate)."""
        queue = self.queue
        assert queue is not None
        job_id = job.job_id
        assert job_id is not None

        async def nap() -> None:
            await trio.sleep(0.02)

        async def held() -> JobInfo[Any] | None:
            info = await queue.get_job(job_id)
            if info is None or all(g.state == "failed" for g in info.groups.values()):
                return None  # gone, or only in the failed-jobs record: the id is free
            return info

        waited = 0.0
        while job.in_queue():
            self._trio.call(nap)
            self._replay()
            waited += 0.02
            assert waited < self.real_timeout, f"{job.describe()} never finished"
        while (info := self._trio.call(held)) is not None:
            self._trio.call(nap)
            waited += 0.02
            assert waited < self.real_timeout, (
                f"{job.describe()}: every handler of it finished, but the queue still "
                f"holds it: {info!r}"
            )
        self._trio.call(nap)
        self._replay()

    # -- rules: set-up ----------------------------------------------------------------------

    @initialize(
        multiplier=st.integers(0, 100),
        concurrency=st.integers(0, 100),
        small_queue=st.integers(0, 3),
        early=st.lists(st.tuples(_PRIORITIES, _DELAYS), max_size=4),
        groups=st.lists(
            st.tuples(st.sampled_from(GROUPS), st.integers(1, 3), st.integers(0, 3)),
            min_size=1,
            max_size=3,
            unique_by=lambda g: g[0],
        ),
        no_group=st.integers(0, 7),
        backlog=st.sampled_from([0, 5, 20, 40]),
        fails=_FAILS,
        duration=_DURATIONS,
        stop_after=st.integers(30, 120),
    )
    def setup(
        self,
        multiplier: int,
        concurrency: int,
        small_queue: int,
        early: list[tuple[int, int]],
        groups: list[tuple[str, int, int]],
        no_group: int,
        backlog: int,
        fails: tuple[int, ...],
        duration: float,
        stop_after: int,
    ) -> None:
        """Settings; jobs before any group; groups and consumers; a backlog (``enqueue_many``)."""
        if self._virtual:
            self._m = self.multipliers[multiplier % len(self.multipliers)]
            choices = sorted({1, 2, self.concurrency})
            self._slots = choices[concurrency % len(choices)]
            self._size = self.max_queue_size if small_queue == 0 else _BIG_QUEUE
        self._stop_after = stop_after
        _note(f"delay_multiplier={self._m}, concurrency={self._slots}, max_queue_size={self._size}")
        self._start_queue()
        for priority, delay in early:
            self.enqueue(None, priority, delay, (0, 0, 0), 0)
        for name, consumers, max_retries in groups if no_group else []:
            for _ in range(consumers):
                self.consume(name, max_retries)
        if backlog:
            self.enqueue_many(backlog, 0, 0, fails, duration)
        self._check()

    # -- rules: producing -------------------------------------------------------------------

    @rule(
        job_id=st.sampled_from(JOB_IDS),
        priority=_PRIORITIES,
        delay=_DELAYS,
        fails=_FAILS,
        duration=_DURATIONS,
        timeout=_TIMEOUTS,
    )
    def enqueue(
        self,
        job_id: str | None,
        priority: int,
        delay: float,
        fails: tuple[int, ...],
        duration: float,
        timeout: float | None = None,
    ) -> None:
        """``queue.enqueue(seq, priority=, start_delay=, job_id=, timeout=)``; groups fail
        ``fails`` times; a run longer than ``timeout`` fails (virtual mode)."""
        queue = self.queue
        assert queue is not None
        if not (self._virtual and self.check_timeouts):
            timeout = None
        latest = self._by_id.get(job_id) if job_id is not None else None
        expect = "stored"
        if self._stopped_step is not None:
            expect = "stopped"
        elif latest is not None and not self._virtual and latest.groups is not None:
            # a real clock: wait until the job with this id is done, in the model and
            # in the queue (its last outcome may land after the model saw it end)
            self._wait_settled(latest)
        elif latest is not None and latest.in_queue():
            expect = "duplicate"
        if expect == "stored" and self._virtual and len(self._pending()) >= self._size:
            expect = "full"
        _note(f"expect {expect}")
        job = self._new_job(
            len(self._jobs),
            priority,
            delay,
            _Spec(fails, duration, timeout),
            ("enqueue", len(self._jobs)),
        )
        job.given_id = job.job_id = job_id
        job.step = self._step + 1
        seq = job.seq
        scaled = timeout * self._m if timeout is not None else None

        async def call() -> str | BaseException:
            try:
                return await queue.enqueue(
                    seq,
                    priority=priority,
                    start_delay=delay or None,
                    job_id=job_id,
                    timeout=scaled,
                )
            except (QueueFullError, QueueStoppedError) as exc:
                return exc

        if expect == "stored":  # in the model before a handler can see it
            self._store(job, self._now, self._now)
        result = self._run_step(call)
        if expect == "stored":
            self._store_times(job, delay)
        if expect == "stopped":
            assert isinstance(result, QueueStoppedError), result
        elif expect == "full":
            assert isinstance(result, QueueFullError), result
        elif expect == "duplicate":
            assert result == job_id, result
        else:
            assert isinstance(result, str), result
            assert job_id is None or result == job_id
            job.job_id = result
            self._by_id[result] = job
        self._check()

    def _store_times(self, job: _Job, delay: float) -> None:
        """Real mode: the job became available between the call's start and end (+ delay)."""
        if self._virtual:
            return
        job.available_at, job.available_hi = self._lo + delay, self._hi + delay
        for task in job.tasks.values():
            task.ready_at = task.key_at = job.available_at
            task.ready_hi = job.available_hi

    @rule(
        count=st.integers(2, 25),
        priority=_PRIORITIES,
        delay=_DELAYS,
        fails=_FAILS,
        duration=_DURATIONS,
    )
    def enqueue_many(
        self, count: int, priority: int, delay: float, fails: tuple[int, ...], duration: float
    ) -> None:
        """``queue.enqueue_many(seqs, priority=, start_delay=)`` (every item alike)."""
        queue = self.queue
        assert queue is not None
        if not self._virtual:
            count = max(0, min(count, 10, self._size // 2 - len(self._jobs)))
            if not count:
                return
        expect = "stored"
        if self._stopped_step is not None:
            expect = "stopped"
        elif self._virtual and len(self._pending()) + count > self._size:
            expect = "full"
        _note(f"expect {expect}")
        many = getattr(queue, "enqueue_many", None)
        base = len(self._jobs)
        # one enqueue_many call stores its jobs at once: they become ready together
        jobs = [
            self._new_job(
                base + i,
                priority,
                delay,
                _Spec(fails, duration),
                ("many", base) if many is not None else ("enqueue", base + i),
            )
            for i in range(count)
        ]
        for job in jobs:
            job.step = self._step + 1
        seqs = [job.seq for job in jobs]

        async def call() -> list[str] | BaseException:
            try:
                if many is not None:
                    ids: list[str] = await many(seqs, priority=priority, start_delay=delay or None)
                    return ids
                return [
                    await queue.enqueue(seq, priority=priority, start_delay=delay or None)
                    for seq in seqs
                ]
            except (QueueFullError, QueueStoppedError) as exc:
                return exc

        if expect == "stored":
            for job in jobs:
                self._store(job, self._now, self._now)
        result = self._run_step(call)
        if expect == "stopped":
            assert isinstance(result, QueueStoppedError), result
        elif expect == "full":
            assert isinstance(result, QueueFullError), result
        else:
            assert isinstance(result, list), result
            assert len(result) == count, result
            for job, job_id in zip(jobs, result, strict=True):
                self._store_times(job, delay)
                job.job_id = job_id
                self._by_id[job_id] = job
        self._check()

    # -- rules: consuming -------------------------------------------------------------------

    @rule(group=st.sampled_from(GROUPS), max_retries=st.integers(0, 3))
    def consume(self, group: str, max_retries: int) -> None:
        """``queue.consume(handler, consumer_group=group, max_retries=max_retries)``."""
        queue = self.queue
        assert queue is not None
        spec = self._groups.get(group)
        if self._stopped_step is not None:
            expect = "stopped"
        elif spec is not None and spec.max_retries != max_retries:
            expect = "refused"
        else:
            expect = "joined"
        consumer = spec.consumers if spec is not None else 0
        first = not self._groups
        if expect == "joined":
            if spec is None:
                self._groups[group] = _Group(group, max_retries)
                if first:
                    self._adopt(group)
            else:
                spec.consumers += 1
                spec.last_consumer = None
        handler = self._handler(group, consumer)

        async def call() -> BaseException | None:
            try:
                await queue.consume(handler, consumer_group=group, max_retries=max_retries)
            except (ValueError, QueueStoppedError) as exc:
                return exc
            return None

        result = self._run_step(call)
        if expect == "stopped":
            assert isinstance(result, QueueStoppedError), result
        elif expect == "refused":
            assert isinstance(result, ValueError), result
        else:
            assert result is None, result
            if first and not self._virtual:
                for job in self._live.values():
                    task = job.tasks.get(group)
                    if task is not None and task.known_step == self._step:
                        task.ready_at = max(job.available_at, self._lo)
                        task.ready_hi = max(job.available_hi, self._hi)
        self._check()

    def _adopt(self, group: str) -> None:
        """The first group takes every job waiting for one."""
        step = self._step + 1
        for job in self._live.values():
            if job.groups is not None or job.gone:
                continue
            job.groups = [group]
            ready = job.available_at <= self._now + _EPS
            job.tasks[group] = _Task(
                job,
                group,
                ready_at=max(job.available_at, self._now),
                key_at=job.available_at,
                known_step=step,
                batch=("join", step) if ready else job.batch,
                ready_hi=max(job.available_hi, self._now),
            )

    # -- rules: time ------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 4, 8, 16]))
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of queue time pass (times ``delay_multiplier``)."""
        clock = self._clock
        before = self._now

        async def call() -> None:
            if self._virtual:
                assert isinstance(clock, trio.testing.MockClock)
                target = self._t0 + (before + seconds) * self._m
                clock.autojump_threshold = 0
                try:
                    await trio.sleep_until(target)
                finally:
                    clock.autojump_threshold = math.inf
            else:
                await trio.sleep(seconds * self._m)

        self._run_step(call)
        self._now = before + seconds
        self._check()

    # -- rules: recurring jobs --------------------------------------------------------------

    def _recurring_ok(self) -> bool:
        return self._virtual and self.check_recurring and self._size >= _BIG_QUEUE

    def _declare(self, schedule: _Schedule, start_delay: float) -> None:
        queue = self.queue
        assert queue is not None
        old = self._schedules.get(schedule.job_id)
        # identical (the same data too) only when re-declaring the same schedule
        same = old is schedule and schedule.active
        stopped = self._stopped_step is not None
        if not stopped and not same:
            if old is not None:
                self._drop_schedule(old)
            self._schedules[schedule.job_id] = schedule
            self._serials[schedule.serial] = schedule
            first = self._now + start_delay
            if schedule.every is not None:
                schedule.next_tick = first
                schedule.next_tick = self._tick_due(schedule, first)
            else:
                schedule.next_tick = first

        async def call() -> str | BaseException:
            try:
                return await queue.schedule_recurring(
                    schedule.data,
                    job_id=schedule.job_id,
                    interval_seconds=schedule.interval,
                    cron_pattern=schedule.pattern,
                    start_delay=start_delay or None,
                    priority=schedule.priority,
                )
            except QueueStoppedError as exc:
                return exc

        result = self._run_step(call)
        if stopped:
            assert isinstance(result, QueueStoppedError), result
        else:
            assert result == schedule.job_id, result
        self._check()
        self._check_recurring()

    def _drop_schedule(self, schedule: _Schedule) -> None:
        """Cancelled or replaced: no more ticks; occurrences no group started leave."""
        schedule.active = False
        del self._schedules[schedule.job_id]
        for job in list(self._live.values()):
            if job.schedule is schedule and not job.started():
                job.gone = True
                for task in job.tasks.values():
                    task.state = "gone"
                self._live.pop(job.seq, None)

    @precondition(_recurring_ok)
    @rule(
        job_id=st.sampled_from(RECURRING_IDS),
        interval=st.sampled_from([1, 2, 3, 5, 8]),
        start_delay=st.sampled_from([0, 0, 1, 4]),
        priority=_PRIORITIES,
        fails=_FAILS,
        duration=_DURATIONS,
    )
    def schedule_interval(
        self,
        job_id: str,
        interval: int,
        start_delay: float,
        priority: int,
        fails: tuple[int, ...],
        duration: float,
    ) -> None:
        """``schedule_recurring(job_id=, interval_seconds=, start_delay=, priority=)``."""
        serial = len(self._serials) + 1
        spec = _Spec(fails, duration)
        self._declare(
            _Schedule(serial, job_id, priority, float(interval), None, spec, 0.0), start_delay
        )

    @precondition(_recurring_ok)
    @rule(
        job_id=st.sampled_from(CRON_IDS),
        every=st.sampled_from([2, 5, 10]),
        start_delay=st.sampled_from([0, 0, 3]),
        priority=_PRIORITIES,
        fails=_FAILS,
        duration=_DURATIONS,
    )
    def schedule_cron(
        self,
        job_id: str,
        every: int,
        start_delay: float,
        priority: int,
        fails: tuple[int, ...],
        duration: float,
    ) -> None:
        """``schedule_recurring(job_id=, cron_pattern=f"*/{every} * * * * *", ...)``."""
        serial = len(self._serials) + 1
        spec = _Spec(fails, duration)
        self._declare(_Schedule(serial, job_id, priority, None, every, spec, 0.0), start_delay)

    @precondition(lambda self: bool(self._schedules))
    @rule(index=st.integers(0, 2), start_delay=st.sampled_from([0, 1, 7]))
    def redeclare_same(self, index: int, start_delay: float) -> None:
        """Declare an active recurring job again, identically (``start_delay`` aside)."""
        active = sorted(self._schedules)
        self._declare(self._schedules[active[index % len(active)]], start_delay)

    @precondition(_recurring_ok)
    @rule(job_id=st.sampled_from((*RECURRING_IDS, *CRON_IDS, "never-declared")))
    def cancel_recurring(self, job_id: str) -> None:
        """``cancel_recurring(job_id)``: no more ticks; unstarted occurrences are dropped."""
        queue = self.queue
        assert queue is not None
        stopped = self._stopped_step is not None
        schedule = self._schedules.get(job_id)
        if schedule is not None and not stopped:
            self._drop_schedule(schedule)

        async def call() -> BaseException | None:
            try:
                await queue.cancel_recurring(job_id)
            except QueueStoppedError as exc:
                return exc
            return None

        result = self._run_step(call)
        if stopped:
            assert isinstance(result, QueueStoppedError), result
        else:
            assert result is None, result
        self._check()
        self._check_recurring()

    def _check_recurring(self) -> None:
        """``list_recurring_jobs`` and each ``next_run_at`` (on the pinned wall clock)."""
        queue = self.queue
        assert queue is not None

        async def look() -> tuple[list[str], list[Any]]:
            listed = await queue.list_recurring_jobs()
            details = [await queue.get_recurring_job_details(rid) for rid in sorted(listed)]
            return listed, details

        listed, details = self._trio.call(look)
        assert sorted(listed) == sorted(self._schedules), (
            f"list_recurring_jobs() {sorted(listed)} != {sorted(self._schedules)}"
        )
        for rid, detail in zip(sorted(listed), details, strict=True):
            schedule = self._schedules[rid]
            assert detail is not None, f"no details of recurring job {rid!r}"
            assert (detail.data, detail.priority) == (schedule.data, schedule.priority), detail
            assert (detail.interval_seconds, detail.cron_pattern) == (
                schedule.interval,
                schedule.pattern,
            ), detail
            if self._stopped_step is None:
                want = self._wall(schedule.next_tick)
                assert detail.next_run_at is not None
                gap = abs((detail.next_run_at - want).total_seconds())
                assert gap < 1e-3, f"{rid!r}: next_run_at {detail.next_run_at} != {want}"

    # -- rules: job control -----------------------------------------------------------------

    def _control(self) -> bool:
        return self._virtual and self.check_job_control

    def _controllable(self) -> bool:
        return self._control() and self._stopped_step is None

    def _group_paused(self, group: str) -> bool:
        return self._queue_paused or group in self._paused_groups

    @precondition(_controllable)
    @rule(
        action=st.sampled_from(["pause_or_resume", "cancel_job", "inspect"]),
        index=st.integers(0, 7),
        state=_STATES,
        group=st.sampled_from((None, *GROUPS)),
    )
    def job_control(self, action: str, index: int, state: str | None, group: str | None) -> None:
        """One of ``pause_or_resume``, ``cancel_job`` and ``inspect`` (one rule for the
        three, so that the other rules keep their share of the steps)."""
        if action == "pause_or_resume":
            self.pause_or_resume(index % 4)
        elif action == "cancel_job":
            self.cancel_job(index)
        else:
            self.inspect(index, state, group)

    def pause_or_resume(self, index: int) -> None:
        """``pause`` of a group (or the queue) when nothing is paused, else ``resume``:
        one pause at a time, so that most examples keep delivering."""
        if self._queue_paused or self._paused_groups:
            self.resume(index)
        else:
            self.pause(index)

    def pause(self, index: int) -> None:
        """``queue.pause(group)`` of an existing group, or of the whole queue."""
        queue = self.queue
        assert queue is not None
        names = sorted(self._groups)
        group = names[index] if index < len(names) else None
        if group is None:
            self._queue_paused = True
        else:
            self._paused_groups.add(group)
        self._run_step(lambda: queue.pause(group))
        self._check()
        assert self._trio.call(lambda: queue.is_paused(group)) is True, (
            f"is_paused({group!r}) is False right after pause({group!r})"
        )

    def resume(self, index: int) -> None:
        """``queue.resume(group)`` (the whole queue and every group for None)."""
        queue = self.queue
        assert queue is not None
        names = sorted(self._groups)
        group = names[index] if index < len(names) else None
        before = {name for name in self._groups if self._group_paused(name)}
        if group is None:
            self._queue_paused = False
            self._paused_groups.clear()
        else:
            self._paused_groups.discard(group)
        step = self._step + 1
        for name in before:
            if self._group_paused(name):
                continue
            for job in self._live.values():
                task = job.tasks.get(name)
                if (
                    task is not None
                    and task.state == "waiting"
                    and task.ready_at <= self._now + _EPS
                ):
                    # due while paused: ready together, from now
                    task.ready_at = task.ready_hi = self._now
                    task.batch = ("resume", step)
                    task.known_step = step
        self._run_step(lambda: queue.resume(group))
        self._check()
        names = sorted(self._groups)

        async def flags() -> list[bool]:
            return [await queue.is_paused(name) for name in [*names, None]]

        want = [self._group_paused(name) for name in names] + [self._queue_paused]
        got = self._trio.call(flags)
        assert got == want, f"is_paused() of {[*names, None]}: {got}, expected {want}"

    def cancel_job(self, index: int) -> None:
        """``queue.cancel_job(job_id)`` of an ordinary job (or an unknown id)."""
        queue = self.queue
        assert queue is not None
        known = sorted(i for i, job in self._by_id.items() if job.schedule is None)
        running = [
            i
            for i in known
            if self._by_id[i].in_queue()
            and any(task.state == "running" for task in self._by_id[i].tasks.values())
        ]
        if running and index % 2 == 0:
            # half the time a running job, when one runs: the hardest case to get right
            job_id = running[(index // 2) % len(running)]
        else:
            ids = [*known[-7:], "never-enqueued"]
            job_id = ids[index % len(ids)]
        job = self._by_id.get(job_id)
        expect = job is not None and job.in_queue()
        if job is not None and expect:
            job.cancelled = True
            job.gone = True
            for task in job.tasks.values():
                if task.state == "waiting":
                    task.state = "cancelled"
            if not any(task.state == "running" for task in job.tasks.values()):
                self._live.pop(job.seq, None)
        _note(f"cancel_job({job_id!r}): expect {expect}")
        result = self._run_step(lambda: queue.cancel_job(job_id))
        assert result is expect, f"cancel_job({job_id!r}) returned {result}, expected {expect}"
        self._check()

    def _group_view(self, job: _Job, task: _Task) -> tuple[str, int, float | None, str | None]:
        """Where ``job`` stands in ``task``'s group: (state, attempts, available, last error)."""
        if task.state == "running":
            return ("running", task.attempts - 1, None, task.last_error)
        assert task.state == "waiting"
        if task.ready_at > self._now + _EPS:
            state = "retrying" if task.attempts else "delayed"
        else:
            state = "waiting"
        return (state, task.attempts, task.key_at, task.last_error)

    def _job_view(self, job_id: str) -> dict[str, tuple[str, int, float | None, str | None]] | None:
        """The groups ``get_job(job_id)`` must show (None: it must return None)."""
        job = self._by_id.get(job_id)
        groups: dict[str, tuple[str, int, float | None, str | None]] = {}
        live = job is not None and job.in_queue()
        if job is not None and live:
            for name, task in job.tasks.items():
                if task.state in ("waiting", "running"):
                    groups[name] = self._group_view(job, task)
        for name in self._groups:
            entry = self._failed_record.get((job_id, name))
            if name not in groups and entry is not None:
                groups[name] = ("failed", entry[0], None, entry[1])
        if not live and not groups:
            return None
        return groups

    def _shown(self, info: Any) -> dict[str, tuple[str, int, float | None, str | None]]:
        """A ``JobInfo``'s groups in the model's terms (times as model seconds)."""
        out: dict[str, tuple[str, int, float | None, str | None]] = {}
        for name, state in info.groups.items():
            at = state.available_at
            when = None if at is None else (at - WALL_ANCHOR).total_seconds() / self._m
            out[name] = (state.state, state.attempts, when, state.last_error)
        return out

    def _assert_view(self, job_id: str, info: Any) -> None:
        want = self._job_view(job_id)
        if want is None:
            assert info is None, f"get_job({job_id!r}) is {info}, expected None"
            return
        assert info is not None, f"get_job({job_id!r}) is None, expected {want}"
        got = self._shown(info)
        assert sorted(got) == sorted(want), f"job {job_id!r}: groups {got} != {want}"
        for name, (state, attempts, when, error) in want.items():
            g_state, g_attempts, g_when, g_error = got[name]
            assert (g_state, g_attempts, g_error) == (state, attempts, error), (
                f"job {job_id!r} in group {name!r}: (state, attempts, last_error) "
                f"{(g_state, g_attempts, g_error)} != {(state, attempts, error)}"
            )
            if when is None or g_when is None:
                assert when is g_when, f"job {job_id!r} in {name!r}: available_at {g_when}"
            else:
                assert abs(g_when - when) < 1e-3, (
                    f"job {job_id!r} in group {name!r}: available at {g_when:g}, expected {when:g}"
                )

    def _placement(
        self, job: _Job, group: str | None, only: str | None = None
    ) -> tuple[int, tuple[float, ...]]:
        """Where ``job`` belongs in ``list_jobs()`` (with ``only``: in
        ``list_jobs(state=only)``, where only its groups in that state place it): its
        section and its key there."""
        best: tuple[int, tuple[float, ...]] | None = None
        for name, task in job.tasks.items():
            if group is not None and name != group:
                continue
            if task.state not in ("waiting", "running"):
                continue
            state = self._group_view(job, task)[0]
            if only is not None and state != only:
                continue  # retrying in one group, waiting in another: listed as retrying
            rank = _SECTIONS[state]
            if state == "running":
                key: tuple[float, ...] = ()
            elif state == "waiting":
                key = (-job.priority, task.key_at, job.order)
            else:
                key = (task.key_at,)
            if best is None or (rank, key) < best:
                best = (rank, key)
        if best is None:  # waiting for the first group
            if job.available_at > self._now + _EPS:
                return (_SECTIONS["delayed"], (job.available_at,))
            return (_SECTIONS["waiting"], (-job.priority, job.available_at, job.order))
        return best

    def inspect(self, index: int, state: str | None, group: str | None) -> None:
        """``list_jobs()``, ``list_jobs(state=, consumer_group=)``, ``get_job`` and
        ``get_failed_jobs()``, each checked against the model."""
        queue = self.queue
        assert queue is not None
        known = sorted(i for i, job in self._by_id.items() if job.schedule is None)
        running = [
            i
            for i in known
            if self._by_id[i].in_queue()
            and any(task.state == "running" for task in self._by_id[i].tasks.values())
        ]
        if running and index % 2 == 0:
            # half the time a running job, when one runs: the hardest case to get right
            job_id = running[(index // 2) % len(running)]
        else:
            ids = [*known[-7:], "never-enqueued"]
            job_id = ids[index % len(ids)]

        async def look() -> tuple[list[Any], list[Any], Any]:
            everything = await queue.list_jobs(limit=10_000)
            some = await queue.list_jobs(
                state=state,  # type: ignore[arg-type]
                consumer_group=group,
                limit=10_000,
            )
            one = await queue.get_job(job_id)
            return everything, some, one

        everything, some, one = self._trio.call(look)
        self._assert_view(job_id, one)
        self._check_listing(everything, None, None)
        self._check_listing(some, state, group)

    def _ordinary(self, infos: list[Any]) -> list[tuple[Any, _Job]]:
        """The listed jobs that are ordinary model jobs (recurring occurrences left out)."""
        out: list[tuple[Any, _Job]] = []
        for info in infos:
            data = info.data
            if isinstance(data, int) and not isinstance(data, bool):
                assert 0 <= data < len(self._jobs), f"list_jobs shows unknown data {data!r}"
                out.append((info, self._jobs[data]))
        return out

    def _check_listing(self, infos: list[Any], state: str | None, group: str | None) -> None:
        call = f"list_jobs(state={state!r}, consumer_group={group!r})"
        ids = [info.id for info in infos]
        assert len(ids) == len(set(ids)), f"{call} shows a job twice: {ids}"
        listed = self._ordinary(infos)
        want: set[int] = set()
        for job in self._live.values():
            if job.schedule is not None or not job.in_queue():
                continue
            if state == "failed":
                continue
            if job.groups is None:
                if group is None and state in (None, self._placement_state(job)):
                    want.add(job.seq)
                continue
            for name, task in job.tasks.items():
                if group is not None and name != group:
                    continue
                if task.state not in ("waiting", "running"):
                    continue
                if state is None or self._group_view(job, task)[0] == state:
                    want.add(job.seq)
        if state == "failed":
            for job_id, name in self._failed_record:
                if group is None or name == group:
                    owner = self._by_id.get(job_id)
                    if owner is not None and owner.schedule is None:
                        want.add(owner.seq)
        got = {job.seq for _, job in listed}
        if state == "failed":  # an id reused since: the record names the newest job
            got = {self._by_id[info.id].seq for info, _ in listed if info.id in self._by_id}
        assert got == want, f"{call} shows jobs {sorted(got)}, expected {sorted(want)}"
        if state == "failed":
            return
        for info, job in listed:
            assert info.id == job.job_id, f"{call}: job {job.seq} has id {info.id!r}"
            assert info.priority == job.priority, f"{call}: job {job.seq} priority"
            self._assert_view(info.id, info)
        places = [self._placement(job, group, state) for _, job in listed]
        for (_, job_a), (_, job_b), a, b in zip(
            listed, listed[1:], places, places[1:], strict=False
        ):
            if state is None:
                assert a[0] <= b[0], (
                    f"{call}: job {job_a.seq} ({a}) is listed before job {job_b.seq} ({b})"
                )
            if a[0] != b[0] or a[0] == _SECTIONS["running"]:
                continue
            assert a[1] <= b[1], (
                f"{call}: job {job_a.seq} ({a}) is listed before job {job_b.seq} ({b})"
            )

    def _placement_state(self, job: _Job) -> str:
        return "delayed" if job.available_at > self._now + _EPS else "waiting"

    def _check_failed(self, failed: list[Any]) -> None:
        got = sorted((f.job_id, f.consumer_group, f.attempts, f.error) for f in failed)
        want = sorted(
            (job_id, group, attempts, error)
            for (job_id, group), (attempts, error, _) in self._failed_record.items()
        )
        assert got == want, f"get_failed_jobs() {got} != {want}"
        times = [f.failed_at for f in failed]
        assert times == sorted(times, reverse=True), "get_failed_jobs() is not newest first"
        for f in failed:
            at = self._failed_record[f.job_id, f.consumer_group][2]
            gap = abs((f.failed_at - self._wall(at)).total_seconds())
            assert gap < 1e-3, f"{f.job_id!r} in {f.consumer_group!r} failed at {f.failed_at}"

    # -- rules: stop ------------------------------------------------------------------------

    @precondition(lambda self: self._stopped_step is None and self._step >= self._stop_after)
    @rule()
    def stop(self) -> None:
        """``queue.stop()`` (handlers may be busy), then (``check_export``) ``export_pending()``."""
        queue = self.queue
        assert queue is not None
        self._stopped_step = self._step + 1
        self._stop_time = self._now
        self._run_step(queue.stop, jump=True)
        if self._virtual:
            self._now = self._trio.call(self._now_async)
        else:
            self._stop_returned = self._hi
        self._check()
        assert self._running == 0, f"stop() returned while {self._running} handlers still run"
        if not self.check_export or not self._virtual:
            return
        self._check_export(self._trio.call(queue.export_pending))

    async def _now_async(self) -> float:
        await trio.lowlevel.checkpoint()
        return self._model_now()

    def _check_export(self, exported: list[PendingJob[Any]]) -> None:
        pending = self._pending()
        want: list[tuple[str, int, float, str | None]] = []
        for job in pending:
            waits = [t.ready_at for t in job.tasks.values() if t.state == "waiting"]
            due = min(waits) if waits else job.available_at
            remaining = max(0.0, due - self._now) * self._m
            the_id = job.job_id if job.schedule is None else None
            want.append((repr(job.data), job.priority, round(remaining, 6), the_id))
        got: list[tuple[str, int, float, str | None]] = []
        for p in exported:
            known = self._by_id.get(p.id)
            shown = repr(p.data)
            ordinary = known is not None and known.schedule is None
            the_id = p.id if ordinary or not shown.startswith("(") else None
            got.append((shown, p.priority, round(p.remaining_delay, 6), the_id))
        assert sorted(got, key=repr) == sorted(want, key=repr), (
            f"export_pending (data, priority, remaining_delay, id): "
            f"{sorted(got, key=repr)} != {sorted(want, key=repr)}"
        )
        for job in pending:
            job.gone = True
            for task in job.tasks.values():
                if task.state == "waiting":
                    task.state = "gone"
            self._live.pop(job.seq, None)
        self._exported = True
        self._check()
