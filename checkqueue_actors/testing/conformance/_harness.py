"""What every conformance area shares: the harness, the queue factory type, the fixtures.

``ConformanceBase`` holds the class attributes a backend sets (``time_mode`` and the
real-mode settings) and the fixtures ``make_queue``, ``cq`` and ``cq_clock``; every
area's mixin derives from it, so a class made of any set of mixins has them once.
"""

from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, final

import attrs
import pytest
import trio
import trio.testing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractContextManager

    from ..._protocols import Queue
    from .._recording import DeliveryLog

__all__ = [
    "ConformanceBase",
    "ConformanceHarness",
    "MakeQueue",
    "TimeMode",
    "pending_is",
    "starts",
    "stats_are",
]

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

    Durations given to it are unscaled seconds (the ``contract_seconds`` parameters):
    what a test passes as ``start_delay``, and what the retry backoff (2, 4, 8, ... s)
    comes to with ``delay_multiplier=1``. ``seconds()`` converts them to trio-clock seconds.
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

    def queue(
        self,
        *,
        concurrency: int = 10,
        max_queue_size: int = 10_000,
        delay_multiplier: float | None = None,
    ) -> Queue[Any]:
        """A fresh, unstarted queue with a unique name.

        ``delay_multiplier`` defaults to the harness's (a test of the multiplier itself
        passes another one and does its own arithmetic).
        """
        return self.make_queue(
            f"conformance-{uuid.uuid4().hex[:12]}",
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=self.delay_multiplier
            if delay_multiplier is None
            else delay_multiplier,
        )

    def seconds(self, contract_seconds: float) -> float:
        """Trio-clock seconds of an unscaled duration (scaled by ``delay_multiplier``)."""
        return contract_seconds * self.delay_multiplier

    async def sleep(self, contract_seconds: float) -> None:
        """Sleep an unscaled duration."""
        await trio.sleep(self.seconds(contract_seconds))

    async def settle(self) -> None:
        """Let work already due happen: all tasks blocked (virtual) or a short sleep (real)."""
        if self.virtual:
            await trio.testing.wait_all_tasks_blocked()
        else:
            await trio.sleep(self.settle_seconds)

    async def wait_until(self, predicate: Callable[[], bool | Awaitable[bool]]) -> None:
        """Poll ``predicate`` until it is true, within ``timeout``.

        It is looked at after each ``settle()``, every 0.01 s at first; in virtual mode
        ever less often after ten seconds (up to every 100 s), so that a condition that
        never comes costs few looks before the timeout fails the test.
        """
        with self.fail_after():
            interval = 0.01
            start = trio.current_time()
            while True:
                if self.virtual:
                    await trio.testing.wait_all_tasks_blocked()
                else:
                    await trio.lowlevel.checkpoint()
                result = predicate()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                if self.virtual and trio.current_time() - start > 10:
                    interval = min(interval * 2, 100.0)
                await trio.sleep(interval)

    def fail_after(self) -> AbstractContextManager[trio.CancelScope]:
        """``trio.fail_after(timeout)``: every test runs under it."""
        return trio.fail_after(self.timeout)

    def assert_elapsed(self, actual: float, expected: float) -> None:
        """Assert a measured trio-clock duration matches ``expected`` unscaled seconds."""
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


class ConformanceBase:
    """The settings and fixtures every conformance area uses; each area's mixin derives from it.

    Override the ``make_queue`` fixture and set the class attributes in your test class.

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


def pending_is(queue: Queue[Any], count: int) -> Callable[[], Awaitable[bool]]:
    """A ``wait_until`` predicate: the queue's ``pending`` count is ``count``."""

    async def check() -> bool:
        return (await queue.get_stats()).pending == count

    return check


def stats_are(queue: Queue[Any], **counters: int) -> Callable[[], Awaitable[bool]]:
    """A ``wait_until`` predicate: each named counter of ``get_stats()`` has its value
    (``stats_are(q, completed=1, failed=2)``)."""

    async def check() -> bool:
        stats = await queue.get_stats()
        return all(getattr(stats, name) == value for name, value in counters.items())

    return check


def starts(log: DeliveryLog[Any], t0: float) -> list[float]:
    """When each delivery of ``log`` started, in trio-clock seconds after ``t0``."""
    return [d.started_at - t0 for d in log.deliveries]
