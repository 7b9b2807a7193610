"""QueueStateMachine: random interleavings of queue calls checked against a reference model.

Subclass it, give it your backend's queue factory, and expose its ``TestCase``::

    class MemoryMachine(QueueStateMachine):
        def make_queue(self, name, *, concurrency, max_queue_size, delay_multiplier):
            return InMemoryQueue(name, InMemoryQueueConfig(
                concurrency=concurrency, max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier))

    TestMemoryMachine = MemoryMachine.TestCase

Design: the machine is synchronous (no hypothesis-trio). Each example starts one
``trio.run`` in a helper thread and every rule runs one coroutine in it through
``trio.from_thread.run``, so the queue lives across steps. In ``"virtual"`` mode the
run uses a ``MockClock`` that only moves inside the ``advance`` rule (autojump is
switched on just for that step), handlers take no time, and after each step the
machine waits for ``wait_all_tasks_blocked``: the queue is then quiescent and the
model predicts *exactly* which deliveries happened (job, group, attempt, virtual
time), in which order per group, and every counter of ``get_stats()``. Importing
Hypothesis makes trio's scheduler deterministic, so failures shrink and replay.

In ``"real"`` mode (backends whose time lives elsewhere) the run uses the real
clock, ``advance`` sleeps ``seconds * delay_multiplier``, each step checks safety
only (no delivery the model does not allow, none twice) and teardown waits for
every delivery the model expects, then checks the counters. Use a
``max_queue_size`` of at least 100 there (fullness is racy on a real clock).

Checked: at-least-once and exactly once per group; retries per group with backoff
``2**attempt`` seconds and per-group ``max_retries``; priority then FIFO per group
(with one consumer); round-robin within a group; group isolation (each group's
deliveries follow from its own failures only); dedup by job id while a job is in
the queue, and the id free again after; ``QueueFullError``; jobs waiting for a first
group; ``QueueStoppedError`` after stop; ``export_pending`` after stop; stats.
A failing example prints as a script of the rules, e.g.
``state.enqueue(job_id='j1', priority=1, delay=2, fails=(0, 3, 0))``.
"""

from __future__ import annotations

import itertools
import math
import threading
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs
import trio
import trio.lowlevel
import trio.testing
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from .._errors import QueueFullError, QueueStoppedError
from ._recording import HandlerFailure
from ._waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._model import QueueJob, QueueStats
    from .._protocols import Queue
    from .conformance import TimeMode

__all__ = ["QueueStateMachine"]

R = TypeVar("R")

GROUPS = ("a", "b", "c")
JOB_IDS = ("j1", "j2", "j3", None)


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


@attrs.define
class _Job:
    seq: int
    job_id: str
    priority: int
    available_at: float
    fails: dict[str, int]
    groups: list[str] | None
    attached_at: float = 0.0
    attached_step: int = 0
    exported: bool = False


@attrs.define
class _Group:
    name: str
    max_retries: int
    consumers: int = 1
    last_join_step: int = 0
    second_join_step: int | None = None


@attrs.frozen(order=True)
class _Delivery:
    """A delivery, sortable in dispatch order within a group."""

    time: float
    step: int
    neg_priority: int
    ready_since: float
    seq: int
    attempts: int
    group: str = attrs.field(order=False)


@attrs.frozen
class _Observed:
    seq: int
    group: str
    consumer: int
    attempts: int
    time: float
    step: int


class QueueStateMachine(RuleBasedStateMachine):
    """Hypothesis machine checking a queue backend against a reference model.

    Override ``make_queue``; set the class attributes below if needed.

    Attributes:
      time_mode: ``"virtual"`` (trio MockClock drives the backend) or ``"real"``.
      delay_multiplier: Passed to the queue (real mode: keep delays small, e.g. 0.01).
      concurrency: Passed to the queue.
      max_queue_size: Passed to the queue (small in virtual mode, to reach it).
      check_export: Call ``export_pending`` after the ``stop`` rule and check it.
      real_timeout: Real mode: seconds to wait for expected deliveries at teardown.
    """

    time_mode: ClassVar[TimeMode] = "virtual"
    delay_multiplier: ClassVar[float] = 1.0
    concurrency: ClassVar[int] = 3
    max_queue_size: ClassVar[int] = 5
    check_export: ClassVar[bool] = True
    real_timeout: ClassVar[float] = 30.0

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
        self.queue = self.make_queue(
            f"machine-{uuid.uuid4().hex[:12]}",
            concurrency=self.concurrency,
            max_queue_size=self.max_queue_size,
            delay_multiplier=self.delay_multiplier,
        )
        self._jobs: list[_Job] = []
        self._latest: dict[str, _Job] = {}
        self._groups: dict[str, _Group] = {}
        self._observed: list[_Observed] = []
        self._step = 0
        self._step_times: list[float] = [0.0]
        self._now = 0.0
        self._stopped_step: int | None = None
        self._t0 = 0.0

        async def start() -> None:
            self._t0 = trio.current_time()
            assert self._trio.nursery is not None
            await self._trio.nursery.start(self.queue.run)

        self._trio.call(start)

    def teardown(self) -> None:
        """Real mode: wait for every expected delivery and check; then stop and end the run."""
        try:
            if not self._virtual and self._stopped_step is None:
                self._trio.call(self._wait_for_expected)
                self._check_final_stats(self._trio.call(self.queue.get_stats))
            if self._stopped_step is None:
                self._trio.call(self.queue.stop)
        finally:
            self._trio.close()

    # -- helpers ----------------------------------------------------------------------------

    def _model_now(self) -> float:
        return (trio.current_time() - self._t0) / self.delay_multiplier

    def _sync_now(self) -> float:
        """The model's time, from the test thread."""
        if self._virtual:
            return self._now

        async def now() -> float:
            await trio.lowlevel.checkpoint()
            return self._model_now()

        return self._trio.call(now)

    async def _quiesce(self) -> None:
        if self._virtual:
            await trio.testing.wait_all_tasks_blocked()
        else:
            await trio.lowlevel.checkpoint()

    def _run_step(self, fn: Callable[[], Awaitable[R]]) -> R:
        """Run one step's coroutine, let the queue settle, then check the model."""
        self._step += 1

        async def step() -> R:
            result = await fn()
            await self._quiesce()
            return result

        try:
            return self._trio.call(step)
        finally:
            self._step_times.append(self._now)

    def _handler(self, group: str, consumer: int) -> Callable[[QueueJob[Any]], Awaitable[None]]:
        async def handle(job: QueueJob[Any]) -> None:
            seq = job.data
            assert isinstance(seq, int), job
            now = self._model_now()
            self._observed.append(_Observed(seq, group, consumer, job.attempts, now, self._step))
            before = sum(1 for o in self._observed[:-1] if o.seq == seq and o.group == group)
            model = self._jobs[seq]
            await trio.lowlevel.checkpoint()
            if before < model.fails.get(group, 0):
                msg = f"job {seq} fails in group {group!r} (delivery {before + 1})"
                raise HandlerFailure(msg)

        return handle

    def _due_step(self, time: float, created_at: float, created_step: int) -> int | None:
        if time == created_at:
            return created_step
        for index, step_time in enumerate(self._step_times):
            if index >= created_step and step_time >= time:
                return index
        return None

    def _plan(self, job: _Job, group: str) -> tuple[list[_Delivery], bool]:
        """Every delivery of ``job`` to ``group`` (due or not) and whether the last succeeds."""
        spec = self._groups[group]
        failures = job.fails.get(group, 0)
        runs = min(failures, spec.max_retries) + 1
        time = max(job.available_at, job.attached_at)
        created_at, created_step = job.attached_at, job.attached_step
        ready_since = job.available_at
        plan: list[_Delivery] = []
        for attempt in range(runs):
            if attempt:
                created_at = time
                created_step = plan[-1].step
                time += 2**attempt
                ready_since = time
            step = self._due_step(time, created_at, created_step)
            if step is None or (self._stopped_step is not None and step >= self._stopped_step):
                step = -1  # not (yet) due
            plan.append(_Delivery(time, step, -job.priority, ready_since, job.seq, attempt, group))
            if step == -1:
                break
        return plan, failures <= spec.max_retries

    def _expected(self) -> tuple[list[_Delivery], set[int], int, int]:
        """(deliveries due by now, seqs still pending, completed, failed) per the model."""
        due: list[_Delivery] = []
        pending: set[int] = set()
        completed = failed = 0
        for job in self._jobs:
            if job.groups is None:
                if not job.exported:
                    pending.add(job.seq)
                continue
            for group in job.groups:
                plan, succeeds = self._plan(job, group)
                happened = [d for d in plan if d.step != -1]
                due.extend(happened)
                runs = min(job.fails.get(group, 0), self._groups[group].max_retries) + 1
                if len(happened) == runs:
                    if succeeds:
                        completed += 1
                    else:
                        failed += 1
                elif not job.exported:
                    pending.add(job.seq)
        return due, pending, completed, failed

    def _all_planned(self) -> Counter[tuple[int, str, int]]:
        planned: Counter[tuple[int, str, int]] = Counter()
        for job in self._jobs:
            for group in job.groups or ():
                runs = min(job.fails.get(group, 0), self._groups[group].max_retries) + 1
                for attempt in range(runs):
                    planned[job.seq, group, attempt] += 1
        return planned

    async def _wait_for_expected(self) -> None:
        planned = self._all_planned()
        await wait_until(
            lambda: Counter((o.seq, o.group, o.attempts) for o in self._observed) == planned,
            timeout=self.real_timeout,
        )
        await trio.sleep(0.05)
        self._check_safety()

    def _check_safety(self) -> None:
        observed = Counter((o.seq, o.group, o.attempts) for o in self._observed)
        planned = self._all_planned()
        extra = observed - planned
        assert not extra, f"deliveries the model does not allow (seq, group, attempt): {extra}"

    def _check_final_stats(self, stats: QueueStats) -> None:
        """Real mode, once every planned delivery happened."""
        completed = failed = 0
        for job in self._jobs:
            for group in job.groups or ():
                if job.fails.get(group, 0) <= self._groups[group].max_retries:
                    completed += 1
                else:
                    failed += 1
        orphans = sum(1 for job in self._jobs if job.groups is None)
        want = (orphans, 0, completed, failed, len(self._groups))
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

    def _check_stats(self, stats: QueueStats) -> None:
        _due, pending, completed, failed = self._expected()
        want = (len(pending), 0, completed, failed, len(self._groups))
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

    def _check(self) -> None:
        if not self._virtual:
            self._check_safety()
            return
        due, _pending, _completed, _failed = self._expected()
        want = Counter((d.seq, d.group, d.attempts, d.time) for d in due)
        got = Counter((o.seq, o.group, o.attempts, o.time) for o in self._observed)
        assert got == want, (
            f"deliveries (seq, group, attempt, time) differ from the model:\n"
            f"  missing: {sorted(want - got)}\n  unexpected: {sorted(got - want)}"
        )
        for name, spec in self._groups.items():
            single = spec.second_join_step if spec.second_join_step is not None else math.inf
            expected_order = [(d.seq, d.attempts) for d in sorted(due) if d.group == name]
            observed_order = [(o.seq, o.attempts) for o in self._observed if o.group == name]
            cut = sum(1 for d in due if d.group == name and d.step < single)
            assert observed_order[:cut] == expected_order[:cut], (
                f"group {name!r} ran jobs (seq, attempt) in the wrong order: "
                f"{observed_order[:cut]} != {expected_order[:cut]}"
            )
            after = [o for o in self._observed if o.group == name and o.step > spec.last_join_step]
            for one, two in itertools.pairwise(after):
                assert two.consumer == (one.consumer + 1) % spec.consumers, (
                    f"group {name!r}: not round-robin: consumer {one.consumer} then {two.consumer}"
                )
        self._check_stats(self._trio.call(self.queue.get_stats))

    # -- rules ------------------------------------------------------------------------------

    @rule(
        job_id=st.sampled_from(JOB_IDS),
        priority=st.integers(-1, 2),
        delay=st.sampled_from([0, 0, 1, 2, 5]),
        fails=st.tuples(*[st.integers(0, 3)] * len(GROUPS)),
    )
    def enqueue(
        self, job_id: str | None, priority: int, delay: float, fails: tuple[int, ...]
    ) -> None:
        """``queue.enqueue(seq, priority=, start_delay=, job_id=)``; groups fail ``fails`` times."""
        seq = len(self._jobs)
        expect = "stored"
        latest = self._latest.get(job_id) if job_id is not None else None
        if self._stopped_step is not None:
            expect = "stopped"
        else:
            if not self._virtual:
                if latest is not None and latest.groups is None:
                    expect = "duplicate"
                elif latest is not None:
                    self._wait_done_or_orphan(latest)
            else:
                _due, pending, _c, _f = self._expected()
                if latest is not None and latest.seq in pending:
                    expect = "duplicate"
                elif len(pending) >= self.max_queue_size:
                    expect = "full"
        note(f"expect {expect}")

        async def call() -> str | BaseException:
            try:
                return await self.queue.enqueue(
                    seq, priority=priority, start_delay=delay or None, job_id=job_id
                )
            except (QueueFullError, QueueStoppedError) as exc:
                return exc

        if expect == "stored":
            # the job must be in the model before a handler sees it
            self._add_job(seq, job_id, priority, delay, fails)
        result = self._run_step(call)
        if expect == "stopped":
            assert isinstance(result, QueueStoppedError), result
        elif expect == "full":
            assert isinstance(result, QueueFullError), result
        elif expect == "duplicate":
            assert result == job_id, result
        else:
            assert isinstance(result, str), result
            assert job_id is None or result == job_id
            self._jobs[seq].job_id = result
        self._check()

    def _add_job(
        self, seq: int, job_id: str | None, priority: int, delay: float, fails: tuple[int, ...]
    ) -> None:
        now = self._sync_now()
        groups = list(self._groups) or None
        job = _Job(
            seq=seq,
            job_id=job_id or f"#{seq}",
            priority=priority,
            available_at=now + delay,
            fails=dict(zip(GROUPS, fails, strict=True)),
            groups=groups,
            attached_at=now,
            attached_step=self._step + 1,
        )
        self._jobs.append(job)
        if job_id is not None:
            self._latest[job_id] = job

    def _wait_done_or_orphan(self, job: _Job) -> None:
        """Real mode: before re-using an id, wait until its job is certainly done (or orphan)."""
        if job.groups is None:
            return
        runs = {
            group: min(job.fails.get(group, 0), self._groups[group].max_retries) + 1
            for group in job.groups
        }

        async def wait() -> None:
            await wait_until(
                lambda: all(
                    sum(1 for o in self._observed if o.seq == job.seq and o.group == group) >= n
                    for group, n in runs.items()
                ),
                timeout=self.real_timeout,
            )
            await trio.sleep(0.05)

        self._trio.call(wait)

    @rule(group=st.sampled_from(GROUPS), max_retries=st.integers(0, 3))
    def consume(self, group: str, max_retries: int) -> None:
        """``queue.consume(handler, consumer_group=group, max_retries=max_retries)``."""
        spec = self._groups.get(group)
        if self._stopped_step is not None:
            expect = "stopped"
        elif spec is not None and spec.max_retries != max_retries:
            expect = "refused"
        else:
            expect = "joined"
        consumer = spec.consumers if spec is not None else 0
        if expect == "joined":
            step = self._step + 1
            if spec is None:
                first = not self._groups
                self._groups[group] = _Group(group, max_retries, last_join_step=step)
                if first:
                    now = self._sync_now()
                    for job in self._jobs:
                        if job.groups is None and not job.exported:
                            job.groups = [group]
                            job.attached_at = now
                            job.attached_step = step
            else:
                spec.consumers += 1
                spec.last_join_step = step
                if spec.second_join_step is None:
                    spec.second_join_step = step
        handler = self._handler(group, consumer)

        async def call() -> BaseException | None:
            try:
                await self.queue.consume(handler, consumer_group=group, max_retries=max_retries)
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
        self._check()

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 4, 8, 16]))
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of queue time pass (scaled by ``delay_multiplier`` in real mode)."""
        clock = self._clock

        async def call() -> None:
            if self._virtual:
                assert isinstance(clock, trio.testing.MockClock)
                target = self._t0 + self._now
                clock.autojump_threshold = 0
                try:
                    await trio.sleep_until(target)
                    await trio.testing.wait_all_tasks_blocked()
                finally:
                    clock.autojump_threshold = math.inf
            else:
                await trio.sleep(seconds * self.delay_multiplier)

        self._now += seconds
        self._run_step(call)
        self._check()

    @precondition(lambda self: self._stopped_step is None)
    @rule()
    def stop(self) -> None:
        """``queue.stop()`` (then, if ``check_export``, ``export_pending()``)."""
        self._stopped_step = self._step + 1
        self._run_step(self.queue.stop)
        self._check()
        if not self.check_export or not self._virtual:
            return
        _due, pending, _c, _f = self._expected()
        exported = self._trio.call(self.queue.export_pending)
        got = sorted((p.data, p.id, p.priority) for p in exported)
        want = sorted((seq, self._jobs[seq].job_id, self._jobs[seq].priority) for seq in pending)
        assert got == want, f"export_pending (data, id, priority): {got} != {want}"
        for seq in pending:
            self._jobs[seq].exported = True
        self._check()
