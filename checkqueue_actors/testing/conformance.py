"""The backend conformance suite: every rule of CONTRACT.md's ``Queue`` as a pytest test.

How to plug a backend in
------------------------
Subclass ``QueueConformanceTests`` in a module pytest collects (the class name must
start with ``Test``), say which clock your backend's time lives on, and override the
``make_queue`` fixture with a factory of fresh, unstarted queues::

    import pytest
    from checkqueue_actors.testing import MakeQueue, QueueConformanceTests

    class TestMyBackend(QueueConformanceTests):
        time_mode = "real"              # "virtual" if trio's MockClock drives your timers
        real_delay_multiplier = 0.05    # real mode only: contract seconds -> real seconds

        @pytest.fixture
        def make_queue(self, my_server_url: str) -> MakeQueue:
            def make(name, *, concurrency, max_queue_size, delay_multiplier):
                return MyQueue(name, MyConfig(url=my_server_url, concurrency=concurrency,
                                              max_queue_size=max_queue_size,
                                              delay_multiplier=delay_multiplier))
            return make

Every test calls ``make_queue`` with a fresh, unique queue name, so a shared server
needs no cleanup between tests (use a unique key prefix per test anyway if you can).
The tests are marked ``trio`` themselves, so the suite runs whether or not the
project sets pytest-trio's ``trio_mode``.

Time modes:

- ``"virtual"`` (the in-memory backend): each test runs on
  ``MockClock(autojump_threshold=0)``, queues get ``delay_multiplier=1.0``, delays are
  big (10 s, backoff 2-4-8 s) and times are compared exactly.
- ``"real"`` (backends whose time lives elsewhere, like Redis): the real clock,
  ``delay_multiplier=real_delay_multiplier``, times compared within
  ``[expected - real_early_tolerance, expected + real_late_tolerance]`` and every wait
  bounded by ``real_timeout`` seconds. One test (cron firing) waits for a whole
  wall-clock minute in this mode, since cron is not scaled.

Tests talk to the harness ``cq`` (a ``ConformanceHarness``): ``cq.queue()`` makes a
queue, ``cq.sleep(10)`` sleeps ten *contract* seconds (scaled in real mode), and
``cq.assert_elapsed`` compares durations the way the mode allows. Write extra,
backend-specific tests in your subclass the same way.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, final
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio
import trio.testing

from .._errors import InvalidScheduleError, QueueFullError, QueueStoppedError
from ._recording import DeliveryLog, RecordingHandler
from ._waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractContextManager

    from .._protocols import Queue

__all__ = ["ConformanceHarness", "MakeQueue", "QueueConformanceTests", "TimeMode"]

TimeMode = Literal["virtual", "real"]
"""Where a backend's timers live: trio's clock (``"virtual"``) or somewhere else (``"real"``)."""


class MakeQueue(Protocol):
    """A factory of fresh, unstarted queues (what the ``make_queue`` fixture returns)."""

    def __call__(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        """A new queue named ``name`` with these settings; not started."""
        ...


@final
@attrs.frozen
class ConformanceHarness:
    """What each conformance test uses to make queues and to reason about time.

    Durations given to it are *contract seconds*: what a test passes as
    ``start_delay``, and what the contract's backoff formula yields with
    ``delay_multiplier=1``. ``seconds()`` converts them to trio-clock seconds.
    """

    make_queue: MakeQueue
    time_mode: TimeMode = "virtual"
    delay_multiplier: float = 1.0
    """Passed to every queue; 1.0 in virtual mode."""
    early_tolerance: float = 0.0
    """Real mode: how much earlier than expected a timer may fire (seconds)."""
    late_tolerance: float = 0.0
    """Real mode: how much later than expected a timer may fire (seconds)."""
    timeout: float = 100_000.0
    """Bound of each test, in trio-clock seconds (virtual time in virtual mode)."""
    settle_seconds: float = 0.2
    """Real mode: how long ``settle()`` waits for in-flight work to show."""

    @property
    def virtual(self) -> bool:
        """True in virtual mode."""
        return self.time_mode == "virtual"

    def queue(self, *, concurrency: int = 10, max_queue_size: int = 10_000) -> Queue[Any]:
        """A fresh, unstarted queue with a unique name."""
        return self.make_queue(
            f"conformance-{uuid.uuid4().hex[:12]}",
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=self.delay_multiplier,
        )

    def seconds(self, contract_seconds: float) -> float:
        """Trio-clock seconds of a contract duration (scaled by ``delay_multiplier``)."""
        return contract_seconds * self.delay_multiplier

    async def sleep(self, contract_seconds: float) -> None:
        """Sleep a contract duration."""
        await trio.sleep(self.seconds(contract_seconds))

    async def settle(self) -> None:
        """Let work already due happen: all tasks blocked (virtual) or a short sleep (real)."""
        if self.virtual:
            await trio.testing.wait_all_tasks_blocked()
        else:
            await trio.sleep(self.settle_seconds)

    def fail_after(self) -> AbstractContextManager[trio.CancelScope]:
        """``trio.fail_after(timeout)``: every test runs under it."""
        return trio.fail_after(self.timeout)

    def assert_elapsed(self, actual: float, expected: float) -> None:
        """Assert a measured trio-clock duration matches ``expected`` contract seconds."""
        want = self.seconds(expected)
        if self.virtual:
            assert actual == pytest.approx(want, abs=1e-6), (actual, want)
        else:
            low, high = want - self.early_tolerance, want + self.late_tolerance
            assert low <= actual <= high, f"{actual} not in [{low}, {high}]"

    def assert_times(self, actual: list[float], expected: list[float]) -> None:
        """``assert_elapsed`` for each pair, and the same length."""
        assert len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            self.assert_elapsed(a, e)


def _pending_is(queue: Queue[Any], count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await queue.get_stats()).pending == count

    return check


def _starts(log: DeliveryLog[Any], t0: float) -> list[float]:
    return [d.started_at - t0 for d in log.deliveries]


class QueueConformanceTests:
    """Contract tests run against the queues of the ``make_queue`` fixture.

    See the module docstring for how to plug a backend in. Class attributes to set:

    Attributes:
      time_mode: ``"virtual"`` or ``"real"``.
      real_delay_multiplier: The ``delay_multiplier`` of queues in real mode.
      real_early_tolerance: Real mode: seconds a timer may fire early.
      real_late_tolerance: Real mode: seconds a timer may fire late.
      real_timeout: Real mode: seconds each test may take at most.
      real_settle_seconds: Real mode: how long ``cq.settle()`` waits for work already
        due to show (keep it well under ``real_delay_multiplier * 5``).
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.trio]

    time_mode: ClassVar[TimeMode] = "virtual"
    real_delay_multiplier: ClassVar[float] = 0.05
    real_early_tolerance: ClassVar[float] = 0.02
    real_late_tolerance: ClassVar[float] = 1.0
    real_timeout: ClassVar[float] = 90.0
    real_settle_seconds: ClassVar[float] = 0.1

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        """Override: return a factory of fresh queues of the backend under test."""
        msg = f"{type(self).__name__} must override the make_queue fixture"
        raise NotImplementedError(msg)

    @pytest.fixture
    def cq(self, make_queue: MakeQueue) -> ConformanceHarness:
        """The harness of one test."""
        if self.time_mode == "virtual":
            return ConformanceHarness(make_queue)
        return ConformanceHarness(
            make_queue,
            time_mode="real",
            delay_multiplier=self.real_delay_multiplier,
            early_tolerance=self.real_early_tolerance,
            late_tolerance=self.real_late_tolerance,
            timeout=self.real_timeout,
            settle_seconds=self.real_settle_seconds,
        )

    @pytest.fixture
    def cq_clock(self) -> trio.abc.Clock | None:
        """The clock of each test's trio run: an autojump MockClock in virtual mode."""
        if self.time_mode == "virtual":
            return trio.testing.MockClock(autojump_threshold=0)
        return None

    # -- basic flow -------------------------------------------------------------------------

    async def test_enqueue_then_consume_delivers_the_job(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A consumer receives the job with its id, data, priority, UTC timestamp, 0 attempts."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                job_id = await q.enqueue({"n": 1}, priority=3)
                await rec.log.wait_for(1)
                await cq.settle()
        assert len(rec.log) == 1
        job = rec.log.jobs[0]
        assert job.id == job_id
        assert uuid.UUID(job_id).version == 4
        assert job.data == {"n": 1}
        assert job.priority == 3
        assert job.attempts == 0
        assert job.timestamp.utcoffset() == timedelta(0)
        assert abs(job.timestamp - datetime.now(UTC)) < timedelta(minutes=10)

    async def test_given_job_id_is_returned_and_delivered(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``enqueue(job_id=...)`` returns that id and the job carries it."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                assert await q.enqueue("x", job_id="order-42") == "order-42"
                await rec.log.wait_for(1)
        assert rec.log.ids == ["order-42"]

    async def test_enqueue_rejects_bad_delay_and_priority(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A negative or non-finite delay, or a non-int priority, is a ValueError."""
        with cq.fail_after():
            async with cq.queue() as q:
                for delay in (-1, -0.5, math.inf, math.nan):
                    with pytest.raises(ValueError, match="start_delay"):
                        await q.enqueue("x", start_delay=delay)
                bad_priorities: tuple[Any, ...] = (1.5, "1", True, None)
                for priority in bad_priorities:
                    with pytest.raises(ValueError, match="priority"):
                        await q.enqueue("x", priority=priority)
                stats = await q.get_stats()
        assert stats.pending == 0

    # -- order ------------------------------------------------------------------------------

    async def test_priority_then_fifo_for_jobs_waiting_for_the_first_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Jobs enqueued before any group are delivered by priority, then enqueue order."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                for data, priority in [("l1", 0), ("h1", 10), ("m1", 5), ("l2", 0), ("h2", 10)]:
                    await q.enqueue(data, priority=priority)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(5)
        assert rec.log.data == ["h1", "h2", "m1", "l1", "l2"]

    async def test_priority_then_fifo_while_the_consumer_is_busy(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Jobs that queue up behind a running handler run by priority, then FIFO."""
        gate = trio.Event()
        rec = RecordingHandler[Any](gate=gate)
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("blocker")
                await rec.log.wait_for(1)
                for data, priority in [("l1", -1), ("h1", 7), ("m1", 0), ("l2", -1), ("h2", 7)]:
                    await q.enqueue(data, priority=priority)
                await cq.settle()
                gate.set()
                await rec.log.wait_for(6)
        assert rec.log.data == ["blocker", "h1", "h2", "m1", "l1", "l2"]

    async def test_delayed_jobs_are_ordered_by_when_they_became_available(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Within a priority, delayed jobs queue by availability time, then enqueue order."""
        rec = RecordingHandler[Any](duration=lambda job: cq.seconds(30) if job.data == "B" else 0)
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("B")
                await rec.log.wait_for(1)
                await q.enqueue("d20", start_delay=20)
                await q.enqueue("d10", start_delay=10)
                await q.enqueue("d10b", start_delay=10)
                await q.enqueue("now")
                await q.enqueue("p1", priority=1, start_delay=25)
                await rec.log.wait_for(6)
        assert rec.log.data == ["B", "p1", "now", "d10", "d10b", "d20"]

    async def test_delayed_job_starts_after_its_delay(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job with ``start_delay`` is not delivered before the delay has passed."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.enqueue("later", start_delay=10)
                await q.enqueue("now")
                await cq.sleep(8)
                assert rec.log.data == ["now"]
                await rec.log.wait_for(2)
        cq.assert_times(_starts(rec.log, t0), [0, 10])

    # -- dedup ------------------------------------------------------------------------------

    async def test_dedup_while_waiting_for_the_first_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job id already waiting (here for a first group) makes enqueue a no-op."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                assert await q.enqueue("first", job_id="j") == "j"
                assert await q.enqueue("second", job_id="j") == "j"
                assert (await q.get_stats()).pending == 1
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(1)
                await cq.sleep(10)
        assert rec.log.data == ["first"]

    async def test_dedup_while_delayed(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """A delayed job's id cannot be enqueued again before it ran."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("first", job_id="j", start_delay=10)
                assert await q.enqueue("second", job_id="j") == "j"
                assert (await q.get_stats()).pending == 1
                await rec.log.wait_for(1)
                await cq.sleep(10)
        assert rec.log.data == ["first"]

    async def test_dedup_while_running_then_free_again(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A running job's id is taken; once every group is done the id is free again."""
        gate = trio.Event()
        rec = RecordingHandler[Any](gate=gate)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("first", job_id="j")
                await rec.log.wait_for(1)
                assert await q.enqueue("second", job_id="j") == "j"
                gate.set()
                await rec.log.wait_finished(1)
                await cq.settle()
                assert rec.log.data == ["first"]
                assert await q.enqueue("third", job_id="j") == "j"
                await rec.log.wait_for(2)
                await cq.settle()
        assert rec.log.data == ["first", "third"]

    async def test_dedup_while_in_retry_backoff(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job waiting out a retry backoff keeps its id; the retry carries the original data."""
        rec = RecordingHandler[Any](fail_times=1)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                await q.enqueue("first", job_id="j")
                await rec.log.wait_finished(1)
                assert await q.enqueue("second", job_id="j") == "j"
                await rec.log.wait_finished(2)
                await cq.sleep(20)
        assert rec.log.data == ["first", "first"]
        assert [j.attempts for j in rec.log.jobs] == [0, 1]

    async def test_dedup_holds_until_every_group_is_done(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """While one group still runs the job, its id stays taken even if another group is done."""
        gate = trio.Event()
        fast = RecordingHandler[Any]("fast")
        slow = RecordingHandler[Any]("slow", gate=gate)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(fast, consumer_group="a")
                await q.consume(slow, consumer_group="b")
                await q.enqueue("first", job_id="j")
                await fast.log.wait_finished(1)
                await slow.log.wait_for(1)
                await q.enqueue("second", job_id="j")
                gate.set()
                await slow.log.wait_finished(1)
                await cq.settle()
                await q.enqueue("third", job_id="j")
                await fast.log.wait_for(2)
                await slow.log.wait_for(2)
                await cq.settle()
        assert fast.log.data == ["first", "third"]
        assert slow.log.data == ["first", "third"]

    # -- consumer groups --------------------------------------------------------------------

    async def test_competing_consumers_share_a_group_round_robin(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Consumers of one group each get a share of the jobs, in round-robin order."""
        log = DeliveryLog[Any]()
        names = ["c0", "c1", "c2"]
        with cq.fail_after():
            async with cq.queue() as q:
                for name in names:
                    await q.consume(RecordingHandler(name, log=log), consumer_group="workers")
                for i in range(6):
                    await q.enqueue(i)
                await log.wait_for(6)
                await cq.settle()
        assert sorted(log.data) == list(range(6))
        consumers = [d.consumer for d in log.deliveries]
        first = names.index(consumers[0])
        assert consumers == [names[(first + i) % 3] for i in range(6)]

    async def test_retries_go_to_the_next_consumer_of_the_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Each retry of a job is a delivery like any other: round-robin moves on."""
        log = DeliveryLog[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                for name in ("c0", "c1"):
                    handler = RecordingHandler(name, log=log, fail_times=2)
                    await q.consume(handler, consumer_group="workers", max_retries=3)
                await q.enqueue("job")
                await log.wait_finished(3)
                await cq.sleep(20)
        assert [j.attempts for j in log.jobs] == [0, 1, 2]
        consumers = [d.consumer for d in log.deliveries]
        assert consumers[0] != consumers[1]
        assert consumers[2] == consumers[0]

    async def test_every_group_gets_every_job(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Different groups are a broadcast: each receives each job once."""
        a, b = RecordingHandler[Any]("a"), RecordingHandler[Any]("b")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a")
                await q.consume(b, consumer_group="b")
                for i in range(3):
                    await q.enqueue(i)
                await a.log.wait_for(3)
                await b.log.wait_for(3)
                await cq.settle()
                stats = await q.get_stats()
        assert a.log.data == [0, 1, 2]
        assert b.log.data == [0, 1, 2]
        assert stats.completed == 6
        assert stats.consumer_groups == 2

    async def test_job_enqueued_without_groups_waits_for_the_first_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """With no group, a job waits (pending) and goes to the first group that registers."""
        first, later = RecordingHandler[Any]("first"), RecordingHandler[Any]("later")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.enqueue("early")
                await cq.sleep(100)
                stats = await q.get_stats()
                assert (stats.pending, stats.consumer_groups) == (1, 0)
                await q.consume(first, consumer_group="first")
                await first.log.wait_for(1)
                await q.consume(later, consumer_group="later")
                await q.enqueue("next")
                await first.log.wait_for(2)
                await later.log.wait_for(1)
                await cq.settle()
        assert first.log.data == ["early", "next"]
        assert later.log.data == ["next"]

    async def test_group_created_later_misses_earlier_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job goes to the groups that exist when it is enqueued, not to later ones."""
        a, b = RecordingHandler[Any]("a"), RecordingHandler[Any]("b")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a")
                await q.enqueue("delayed", start_delay=10)
                await cq.sleep(1)
                await q.consume(b, consumer_group="b")
                await a.log.wait_for(1)
                await cq.sleep(10)
        assert a.log.data == ["delayed"]
        assert b.log.data == []

    # -- retries ----------------------------------------------------------------------------

    async def test_retry_backoff_doubles_until_max_retries(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Retries come 2, 4, 8 s after each failure, then the delivery fails for good."""
        rec = RecordingHandler[Any](fail_times=100)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                t0 = trio.current_time()
                await q.enqueue("doomed")
                await rec.log.wait_finished(4)
                await cq.sleep(100)
                stats = await q.get_stats()
        cq.assert_times(_starts(rec.log, t0), [0, 2, 6, 14])
        assert [j.attempts for j in rec.log.jobs] == [0, 1, 2, 3]
        assert (stats.pending, stats.completed, stats.failed) == (0, 0, 1)

    async def test_max_retries_zero_runs_once(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``max_retries=0`` means one run and no retry."""
        rec = RecordingHandler[Any](fail_times=100)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=0)
                await q.enqueue("once")
                await rec.log.wait_finished(1)
                await cq.sleep(100)
                stats = await q.get_stats()
        assert len(rec.log) == 1
        assert stats.failed == 1

    async def test_retries_and_attempts_are_per_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A group's failures give it retries; another group sees its own attempts only."""
        flaky = RecordingHandler[Any]("flaky", fail_times=2)
        steady = RecordingHandler[Any]("steady")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(flaky, consumer_group="a", max_retries=3)
                await q.consume(steady, consumer_group="b", max_retries=0)
                t0 = trio.current_time()
                await q.enqueue("job")
                await flaky.log.wait_finished(3)
                await cq.sleep(50)
                stats = await q.get_stats()
        assert [j.attempts for j in flaky.log.jobs] == [0, 1, 2]
        cq.assert_times(_starts(flaky.log, t0), [0, 2, 6])
        assert [j.attempts for j in steady.log.jobs] == [0]
        assert (stats.completed, stats.failed) == (2, 0)

    async def test_attempts_count_only_the_groups_own_retries(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Out of phase (one slot, slow handlers), each group's attempts still start at 0."""
        a = RecordingHandler[Any]("a", fail_times=100, duration=cq.seconds(5))
        b = RecordingHandler[Any]("b", fail_times=100, duration=cq.seconds(5))
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(a, consumer_group="a", max_retries=2)
                await q.consume(b, consumer_group="b", max_retries=2)
                await q.enqueue("job")
                await a.log.wait_finished(3)
                await b.log.wait_finished(3)
                await cq.sleep(50)
                stats = await q.get_stats()
        assert [j.attempts for j in a.log.jobs] == [0, 1, 2]
        assert [j.attempts for j in b.log.jobs] == [0, 1, 2]
        assert (stats.completed, stats.failed) == (0, 2)

    async def test_max_retries_is_per_group(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """Each group retries up to its own ``max_retries``."""
        a = RecordingHandler[Any]("a", fail_times=100)
        b = RecordingHandler[Any]("b", fail_times=100)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=0)
                await q.consume(b, consumer_group="b", max_retries=2)
                await q.enqueue("job")
                await b.log.wait_finished(3)
                await cq.sleep(100)
                stats = await q.get_stats()
        assert len(a.log) == 1
        assert [j.attempts for j in b.log.jobs] == [0, 1, 2]
        assert stats.failed == 2

    async def test_failures_in_one_group_never_affect_another(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A group that always fails changes nothing for another group's deliveries."""
        broken = RecordingHandler[Any]("broken", fail_times=100)
        fine = RecordingHandler[Any]("fine")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(broken, consumer_group="broken", max_retries=1)
                await q.consume(fine, consumer_group="fine")
                t0 = trio.current_time()
                await q.enqueue(1)
                await cq.sleep(1)
                await q.enqueue(2)
                await broken.log.wait_finished(4)
                await cq.sleep(50)
                stats = await q.get_stats()
        assert fine.log.data == [1, 2]
        assert [j.attempts for j in fine.log.jobs] == [0, 0]
        cq.assert_times(_starts(fine.log, t0), [0, 1])
        assert sorted(broken.log.data) == [1, 1, 2, 2]
        assert (stats.completed, stats.failed) == (2, 2)

    async def test_second_consumer_with_other_max_retries_is_refused(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Joining a group with a different ``max_retries`` is a ValueError; the same is fine."""
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(RecordingHandler[Any](), consumer_group="g", max_retries=2)
                await q.consume(RecordingHandler[Any](), consumer_group="g", max_retries=2)
                with pytest.raises(ValueError, match="max_retries"):
                    await q.consume(RecordingHandler[Any](), consumer_group="g", max_retries=5)
                await q.consume(RecordingHandler[Any](), consumer_group="other", max_retries=5)
                stats = await q.get_stats()
        assert stats.consumer_groups == 2

    async def test_retried_job_keeps_its_priority(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A retry competes with its original priority, ahead of older low-priority jobs."""
        rec = RecordingHandler[Any](
            fail_when=lambda job: job.data == "A" and job.attempts == 0,
            duration=lambda job: cq.seconds(5) if job.data == "G" else 0,
        )
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                await q.enqueue("A", priority=5)
                await rec.log.wait_finished(1)
                await cq.sleep(1)
                for data in ("G", "L1", "L2"):
                    await q.enqueue(data)
                await rec.log.wait_finished(5)
        assert rec.log.data == ["A", "G", "A", "L1", "L2"]
        assert rec.log.jobs[2].priority == 5

    # -- concurrency ------------------------------------------------------------------------

    async def test_concurrency_limits_running_handlers(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """At most ``concurrency`` handlers run at once; in-flight count and stats show them."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            async with cq.queue(concurrency=2) as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                for i in range(5):
                    await q.enqueue(i)
                await rec.log.wait_for(2)
                await cq.settle()
                assert await q.get_in_flight_count() == 2
                stats = await q.get_stats()
                assert (stats.processing, stats.pending) == (2, 3)
                await rec.log.wait_finished(5)
        assert rec.log.max_running == 2
        cq.assert_times(_starts(rec.log, t0), [0, 0, 10, 10, 20])

    # -- recurring: interval ----------------------------------------------------------------

    async def test_interval_job_runs_after_start_delay_then_on_a_grid(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """First occurrence after ``start_delay``, then every ``interval_seconds``."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                rid = await q.schedule_recurring(
                    {"k": 1}, job_id="tick", interval_seconds=10, start_delay=5, priority=2
                )
                await rec.log.wait_for(3)
                await q.cancel_recurring("tick")
        assert rid == "tick"
        cq.assert_times(_starts(rec.log, t0), [5, 15, 25])
        assert all(j.id.startswith("tick:") for j in rec.log.jobs)
        assert len(set(rec.log.ids)) == 3
        assert all(j.data == {"k": 1} and j.priority == 2 for j in rec.log.jobs)

    async def test_interval_job_without_start_delay_fires_at_once(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """The default ``start_delay`` is 0: the first occurrence is immediate."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring("x", job_id="tick", interval_seconds=10)
                await rec.log.wait_for(2)
                await q.cancel_recurring("tick")
        cq.assert_times(_starts(rec.log, t0), [0, 10])

    async def test_interval_grid_ignores_run_time_and_runs_overlap(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Runs longer than the interval do not shift the grid; occurrences overlap."""
        rec = RecordingHandler[Any](duration=cq.seconds(25))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring("x", job_id="slow", interval_seconds=10)
                await rec.log.wait_for(4)
                await q.cancel_recurring("slow")
        cq.assert_times(_starts(rec.log, t0), [0, 10, 20, 30])
        assert rec.log.max_running == 3

    async def test_rescheduling_replaces_and_drops_unstarted_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """New arguments replace the schedule; occurrences no group started are dropped."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring("old", job_id="r", interval_seconds=10)
                await cq.sleep(25)
                assert (await q.get_stats()).pending == 3  # no group yet: 0, 10, 20 wait
                t1 = trio.current_time()
                await q.schedule_recurring("new", job_id="r", interval_seconds=7)
                await cq.settle()
                assert (await q.get_stats()).pending == 1  # the new schedule fired at once
                details = await q.get_recurring_job_details("r")
                assert details is not None
                assert (details.data, details.interval_seconds) == ("new", 7)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
                await q.cancel_recurring("r")
        assert rec.log.data == ["new", "new"]
        cq.assert_elapsed(rec.log.deliveries[1].started_at - t1, 7)

    async def test_rescheduling_lets_a_started_occurrence_finish(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An occurrence already running when the schedule is replaced finishes normally."""
        gate = trio.Event()
        rec = RecordingHandler[Any](gate=gate)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("old", job_id="r", interval_seconds=100)
                await rec.log.wait_for(1)
                await q.schedule_recurring("new", job_id="r", interval_seconds=100)
                gate.set()
                await rec.log.wait_finished(2)
                await cq.settle()
                stats = await q.get_stats()
                await q.cancel_recurring("r")
        assert rec.log.data == ["old", "new"]
        assert (stats.completed, stats.failed) == (2, 0)

    async def test_identical_redeclaration_changes_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Declaring the same schedule again (even with another start_delay) is a no-op."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring([1, 2], job_id="r", interval_seconds=10, priority=1)
                await rec.log.wait_for(1)
                before = await q.get_recurring_job_details("r")
                await cq.sleep(5)
                await q.schedule_recurring(
                    [1, 2], job_id="r", interval_seconds=10, priority=1, start_delay=1
                )
                after = await q.get_recurring_job_details("r")
                await rec.log.wait_for(3)
                await q.cancel_recurring("r")
                assert await q.list_recurring_jobs() == []
        assert before is not None
        assert after is not None
        assert after.next_run_at == before.next_run_at
        cq.assert_times(_starts(rec.log, t0), [0, 10, 20])

    async def test_cancel_recurring_stops_future_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """After cancel no occurrence fires; the job is gone from list and details."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)
                await rec.log.wait_for(1)
                await q.cancel_recurring("r")
                await q.cancel_recurring("r")
                await q.cancel_recurring("never-declared")
                await cq.sleep(50)
                listed = await q.list_recurring_jobs()
                details = await q.get_recurring_job_details("r")
        assert len(rec.log) == 1
        assert listed == []
        assert details is None

    async def test_cancel_recurring_drops_unstarted_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Occurrences still waiting when the schedule is cancelled are dropped."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)
                await cq.sleep(15)
                assert (await q.get_stats()).pending == 2
                await q.cancel_recurring("r")
                await cq.settle()
                assert (await q.get_stats()).pending == 0
                await q.consume(rec, consumer_group="g")
                await cq.sleep(30)
        assert rec.log.data == []

    async def test_list_and_details_of_recurring_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``list_recurring_jobs`` and ``get_recurring_job_details`` describe active schedules."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring({"a": 1}, job_id="a", interval_seconds=10, priority=2)
                await q.schedule_recurring("b", job_id="b", cron_pattern="0 * * * *")
                await rec.log.wait_for(1)
                listed = await q.list_recurring_jobs()
                a = await q.get_recurring_job_details("a")
                b = await q.get_recurring_job_details("b")
                unknown = await q.get_recurring_job_details("c")
                await q.cancel_recurring("a")
                await q.cancel_recurring("b")
        assert sorted(listed) == ["a", "b"]
        assert unknown is None
        assert a is not None
        assert (a.job_id, a.data, a.priority) == ("a", {"a": 1}, 2)
        assert (a.interval_seconds, a.cron_pattern) == (10, None)
        assert a.next_run_at is not None
        gap = (a.next_run_at - rec.log.jobs[0].timestamp).total_seconds()
        cq.assert_elapsed(gap, 10)
        assert b is not None
        assert (b.interval_seconds, b.cron_pattern) == (None, "0 * * * *")
        assert b.next_run_at is not None
        assert (b.next_run_at.minute, b.next_run_at.second) == (0, 0)

    async def test_schedule_recurring_rejects_bad_arguments(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Exactly one of interval / cron, a finite positive interval, a valid cron and zone."""
        with cq.fail_after():
            async with cq.queue() as q:
                with pytest.raises(ValueError, match="interval_seconds"):
                    await q.schedule_recurring("x", job_id="r")
                with pytest.raises(ValueError, match="interval_seconds"):
                    await q.schedule_recurring(
                        "x", job_id="r", interval_seconds=5, cron_pattern="* * * * *"
                    )
                for bad in (0, -1, math.inf, math.nan):
                    with pytest.raises(ValueError, match="interval_seconds"):
                        await q.schedule_recurring("x", job_id="r", interval_seconds=bad)
                for pattern in ("not a cron", "61 * * * *", "* * *"):
                    with pytest.raises(InvalidScheduleError, match="cron"):
                        await q.schedule_recurring("x", job_id="r", cron_pattern=pattern)
                with pytest.raises(InvalidScheduleError, match="timezone"):
                    await q.schedule_recurring(
                        "x", job_id="r", cron_pattern="0 9 * * *", timezone="Mars/Olympus"
                    )
                with pytest.raises(InvalidScheduleError, match="timezone"):
                    await q.schedule_recurring(
                        "x", job_id="r", interval_seconds=5, timezone="Mars/Olympus"
                    )
                listed = await q.list_recurring_jobs()
        assert listed == []
        assert issubclass(InvalidScheduleError, ValueError)

    # -- recurring: cron --------------------------------------------------------------------

    async def test_cron_next_run_is_on_the_wall_clock_in_its_timezone(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``next_run_at`` of a cron job is the next matching wall time in ``timezone``."""
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring(
                    "x", job_id="nine", cron_pattern="0 9 * * *", timezone="Asia/Tokyo"
                )
                await q.schedule_recurring("y", job_id="five", cron_pattern="*/5 * * * *")
                nine = await q.get_recurring_job_details("nine")
                five = await q.get_recurring_job_details("five")
                await q.cancel_recurring("nine")
                await q.cancel_recurring("five")
        now = datetime.now(UTC)
        assert nine is not None
        assert nine.next_run_at is not None
        local = nine.next_run_at.astimezone(ZoneInfo("Asia/Tokyo"))
        assert (local.hour, local.minute, local.second) == (9, 0, 0)
        assert timedelta(0) < nine.next_run_at - now <= timedelta(days=1, minutes=1)
        assert five is not None
        assert five.next_run_at is not None
        assert five.next_run_at.minute % 5 == 0
        assert five.next_run_at.second == 0
        assert timedelta(0) < five.next_run_at - now <= timedelta(minutes=5, seconds=30)

    async def test_cron_job_fires_on_the_minute(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A cron job fires on its wall-clock marks: ``* * * * *`` twice in virtual mode;
        in real mode the six-field ``*/2 * * * * *`` (seconds first) twice, to stay fast."""
        rec = RecordingHandler[Any]()
        pattern = "* * * * *" if cq.virtual else "*/2 * * * * *"
        period = timedelta(minutes=1) if cq.virtual else timedelta(seconds=2)
        with trio.fail_after(max(cq.timeout, 30)):
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("c", job_id="minutely", cron_pattern=pattern)
                await rec.log.wait_for(2)
                await q.cancel_recurring("minutely")
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        slack = timedelta(milliseconds=1) if cq.virtual else timedelta(milliseconds=900)
        for job in rec.log.jobs[:2]:
            assert job.id.startswith("minutely:")
            since_mark = (job.timestamp - epoch) % period
            assert since_mark <= slack or period - since_mark <= slack, job.timestamp
        gap = rec.log.deliveries[1].started_at - rec.log.deliveries[0].started_at
        if cq.virtual:
            assert gap == pytest.approx(60, abs=1e-6)
        else:
            assert gap == pytest.approx(2, abs=0.9)

    # -- stop -------------------------------------------------------------------------------

    async def test_stop_waits_for_running_handlers(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``stop()`` returns once the running handler has finished."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.enqueue("x")
                await rec.log.wait_for(1)
                await cq.sleep(2)
                await q.stop()
                stopped_at = trio.current_time()
                assert rec.log.finished == 1
        cq.assert_elapsed(stopped_at - t0, 10)

    async def test_no_handler_starts_after_stop(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Jobs still waiting when ``stop()`` is called are not started; they stay pending."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            q = cq.queue(concurrency=1)
            async with q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("first")
                await q.enqueue("second")
                await rec.log.wait_for(1)
                await q.stop()
            await cq.sleep(50)
            exported = await q.export_pending()
        assert rec.log.data == ["first"]
        assert [p.data for p in exported] == ["second"]

    async def test_stop_is_idempotent(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """``stop()`` may be called many times, also concurrently, and before leaving the block."""
        rec = RecordingHandler[Any](duration=cq.seconds(5))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("x")
                await rec.log.wait_for(1)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(q.stop)
                    nursery.start_soon(q.stop)
                await q.stop()
            await q.stop()
        assert rec.log.finished == 1

    async def test_enqueue_after_stop_raises(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``enqueue`` on a stopped queue raises QueueStoppedError."""
        with cq.fail_after():
            q = cq.queue()
            async with q:
                pass
            with pytest.raises(QueueStoppedError):
                await q.enqueue("late")

    async def test_consume_and_schedule_after_stop_raise(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``consume`` and ``schedule_recurring`` on a stopped queue raise QueueStoppedError."""
        with cq.fail_after():
            q = cq.queue()
            async with q:
                pass
            with pytest.raises(QueueStoppedError):
                await q.consume(RecordingHandler[Any](), consumer_group="g")
            with pytest.raises(QueueStoppedError):
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)

    # -- stats ------------------------------------------------------------------------------

    async def test_stats_follow_deliveries_per_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``processing`` counts running handlers; ``completed`` counts deliveries per group."""
        gate = trio.Event()
        fast = RecordingHandler[Any]("fast")
        slow = RecordingHandler[Any]("slow", gate=gate)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(fast, consumer_group="a")
                await q.consume(RecordingHandler("fast2", log=fast.log), consumer_group="a")
                await q.consume(slow, consumer_group="b")
                await q.enqueue(1)
                await fast.log.wait_finished(1)
                await slow.log.wait_for(1)
                await cq.settle()
                s1 = await q.get_stats()
                await q.enqueue(2, start_delay=10)
                s2 = await q.get_stats()
                gate.set()
                await fast.log.wait_finished(2)
                await cq.settle()
                s3 = await q.get_stats()
        assert (s1.pending, s1.processing, s1.completed, s1.failed) == (0, 1, 1, 0)
        assert s1.consumer_groups == 2
        assert (s2.pending, s2.processing, s2.completed) == (1, 1, 1)
        assert (s3.pending, s3.processing, s3.completed, s3.failed) == (0, 0, 4, 0)

    async def test_pending_counts_distinct_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job waiting for two groups counts once in ``pending``."""
        gate = trio.Event()
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(RecordingHandler[Any](gate=gate), consumer_group="a")
                await q.consume(RecordingHandler[Any](gate=gate), consumer_group="b")
                await q.enqueue("blocker")
                await q.enqueue("other")
                await cq.settle()
                stats = await q.get_stats()
                gate.set()
        # one group runs the blocker; the other group still waits for it; both wait for "other"
        assert (stats.pending, stats.processing) == (2, 1)

    async def test_stats_count_failures_per_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job that exhausts its retries in two groups counts 2 in ``failed``."""
        with cq.fail_after():
            async with cq.queue() as q:
                a = RecordingHandler[Any](fail_times=100)
                b = RecordingHandler[Any](fail_times=100)
                await q.consume(a, consumer_group="a", max_retries=0)
                await q.consume(b, consumer_group="b", max_retries=1)
                await q.enqueue("x")
                await b.log.wait_finished(2)
                await cq.settle()
                stats = await q.get_stats()
        assert (stats.pending, stats.processing, stats.completed, stats.failed) == (0, 0, 0, 2)

    # -- max_queue_size ---------------------------------------------------------------------

    async def test_full_queue_refuses_and_stores_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """At ``max_queue_size`` pending jobs, enqueue raises QueueFullError, storing nothing."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue(max_queue_size=2) as q:
                await q.enqueue("a")
                await q.enqueue("b", start_delay=10)
                with pytest.raises(QueueFullError, match="max_queue_size"):
                    await q.enqueue("c")
                with pytest.raises(QueueFullError, match="max_queue_size"):
                    await q.enqueue("z-refused", job_id="z")
                assert (await q.get_stats()).pending == 2
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
                await cq.settle()
                assert await q.enqueue("z-accepted", job_id="z") == "z"
                await rec.log.wait_for(3)
                await cq.settle()
        assert rec.log.data == ["a", "b", "z-accepted"]

    # -- export -----------------------------------------------------------------------------

    async def test_export_pending_after_stop(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``export_pending`` returns waiting jobs with priority, data and remaining delay."""
        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.enqueue("ready", priority=1, job_id="r")
                await q.enqueue({"d": 1}, start_delay=10, job_id="d")
                await cq.sleep(3)
            exported = {p.id: p for p in await q.export_pending()}
        assert sorted(exported) == ["d", "r"]
        assert (exported["r"].data, exported["r"].priority) == ("ready", 1)
        assert exported["r"].remaining_delay == 0
        assert (exported["d"].data, exported["d"].priority) == ({"d": 1}, 0)
        cq.assert_elapsed(exported["d"].remaining_delay, 7)
        assert exported["d"].timestamp.utcoffset() == timedelta(0)

    async def test_export_pending_includes_jobs_in_backoff(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job waiting out a retry backoff is pending and exported with the time left."""
        rec = RecordingHandler[Any](fail_times=100)
        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                t0 = trio.current_time()
                await q.enqueue("x", job_id="x")
                await rec.log.wait_finished(1)
                await wait_until(_pending_is(q, 1), timeout=cq.timeout)
                await cq.sleep(0.5)
                waited = trio.current_time() - t0
            exported = await q.export_pending()
        assert [p.id for p in exported] == ["x"]
        if cq.virtual:
            cq.assert_elapsed(exported[0].remaining_delay, 1.5)
        else:  # the failure happened somewhere within `waited`
            low = cq.seconds(2) - waited - cq.early_tolerance
            assert low <= exported[0].remaining_delay <= cq.seconds(2)

    # -- lifetimes --------------------------------------------------------------------------

    async def test_queue_runs_in_the_callers_nursery(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``await nursery.start(queue.run)`` starts it; ``run`` returns after ``stop()``."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            q = cq.queue()
            async with trio.open_nursery() as nursery:
                await nursery.start(q.run)
                await q.consume(rec, consumer_group="g")
                await q.enqueue("x")
                await rec.log.wait_for(1)
                await q.stop()
            with pytest.raises(QueueStoppedError):
                await q.enqueue("late")
        assert rec.log.data == ["x"]

    async def test_exception_in_the_body_leaves_unwrapped(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An exception raised in ``async with queue`` comes out as itself, not a group."""

        async def body() -> None:
            async with cq.queue() as q:
                await q.enqueue("x")
                msg = "boom"
                raise KeyError(msg)

        with cq.fail_after(), pytest.raises(KeyError) as info:
            await body()
        assert type(info.value) is KeyError
        assert info.value.args == ("boom",)

    async def test_calls_before_start_wait_until_started(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Methods called before start wait; ``test_connection`` and ``stop`` never wait."""
        rec = RecordingHandler[Any]()
        results: list[str] = []
        q = cq.queue()

        async def early() -> None:
            results.append(await q.enqueue("early", job_id="e"))
            results.append(str((await q.get_stats()).pending))

        with cq.fail_after():
            await q.test_connection()
            unstarted = cq.queue()
            await unstarted.stop()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(early)
                await cq.settle()
                assert results == []
                await nursery.start(q.run)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(1)
                await q.stop()
        assert results[0] == "e"
        assert rec.log.data == ["early"]
