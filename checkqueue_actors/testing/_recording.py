"""RecordingHandler: a consumer that remembers every delivery and can be told to fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, final

import attrs
import trio

from .._model import QueueJob

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["DeliveryLog", "HandlerFailure", "RecordedDelivery", "RecordingHandler"]

T = TypeVar("T")


class HandlerFailure(Exception):
    """Raised by a ``RecordingHandler`` that was told to fail this delivery."""


@final
@attrs.frozen
class RecordedDelivery(Generic[T]):
    """One handler start, as seen by a ``RecordingHandler``."""

    job: QueueJob[T]
    """The job as the handler received it (``job.attempts`` included)."""
    consumer: str
    """The ``name`` of the handler that received it."""
    started_at: float
    """``trio.current_time()`` when the handler started."""
    failed: bool
    """True when the handler was told to raise for this delivery."""


@final
class DeliveryLog(Generic[T]):
    """The deliveries of one or more handlers, in start order, with ways to wait for them.

    Give competing consumers of one group the same log (``RecordingHandler(log=...)``)
    to see the group's dispatch order across them.
    """

    def __init__(self) -> None:
        self.deliveries: list[RecordedDelivery[T]] = []
        """Every handler start, in order."""
        self.finished: int = 0
        """Handler calls that have returned or raised."""
        self.max_running: int = 0
        """The most handler calls of this log ever running at once."""
        self.cancelled: list[tuple[RecordedDelivery[T], float]] = []
        """Handler calls that ``trio.Cancelled`` ended (a timeout, a grace period,
        ``cancel_job``), with ``trio.current_time()`` when it reached the handler."""
        self._waiters: list[tuple[Callable[[], bool], trio.Event]] = []

    def __len__(self) -> int:
        return len(self.deliveries)

    @property
    def jobs(self) -> list[QueueJob[T]]:
        """The delivered jobs, in start order."""
        return [d.job for d in self.deliveries]

    @property
    def ids(self) -> list[str]:
        """The delivered job ids, in start order."""
        return [d.job.id for d in self.deliveries]

    @property
    def data(self) -> list[T]:
        """The delivered payloads, in start order."""
        return [d.job.data for d in self.deliveries]

    @property
    def cancelled_ids(self) -> list[str]:
        """The job ids of the cancelled handler calls, in the order they were cancelled."""
        return [d.job.id for d, _ in self.cancelled]

    @property
    def running(self) -> int:
        """Handler calls started and not yet finished."""
        return len(self.deliveries) - self.finished

    def _changed(self) -> None:
        still: list[tuple[Callable[[], bool], trio.Event]] = []
        for predicate, event in self._waiters:
            if predicate():
                event.set()
            else:
                still.append((predicate, event))
        self._waiters = still

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Sleep until ``predicate()`` is true (it is re-checked at every start and finish).

        Bound it with ``trio.fail_after``: it waits forever otherwise.
        """
        if predicate():
            await trio.lowlevel.checkpoint()
            return
        event = trio.Event()
        self._waiters.append((predicate, event))
        await event.wait()

    async def wait_for(self, count: int) -> None:
        """Sleep until at least ``count`` handlers have started."""
        await self.wait_until(lambda: len(self.deliveries) >= count)

    async def wait_finished(self, count: int) -> None:
        """Sleep until at least ``count`` handler calls have returned or raised."""
        await self.wait_until(lambda: self.finished >= count)


@final
class RecordingHandler(Generic[T]):
    """An ``async def handler(job)`` for tests: records each start, may sleep, may fail.

    Args:
      name: Label stored in each ``RecordedDelivery.consumer``.
      fail_times: Every job fails its first ``fail_times`` deliveries recorded in this
        handler's ``log`` (so competing consumers sharing a log share the count).
      fail_ids: Job ids that always fail.
      fail_when: A predicate on the job; true means fail.
      duration: Seconds (trio clock) each call sleeps before finishing, or a function of
        the job giving them.
      gate: When given, each call waits for this event before finishing.
      log: Where deliveries are recorded; a new ``DeliveryLog`` by default.

    Failures raise ``HandlerFailure`` after the sleep / gate, so a failing delivery is
    "running" for ``duration`` like a successful one. A call that ``trio.Cancelled``
    ends during the sleep or the wait is recorded in ``log.cancelled``.
    """

    def __init__(
        self,
        name: str = "handler",
        *,
        fail_times: int = 0,
        fail_ids: Iterable[str] = (),
        fail_when: Callable[[QueueJob[T]], bool] | None = None,
        duration: float | Callable[[QueueJob[T]], float] = 0.0,
        gate: trio.Event | None = None,
        log: DeliveryLog[T] | None = None,
    ) -> None:
        self.name = name
        self.fail_times = fail_times
        self.fail_ids = frozenset(fail_ids)
        self.fail_when = fail_when
        self.duration = duration
        self.gate = gate
        self.log: DeliveryLog[T] = log if log is not None else DeliveryLog()

    def __repr__(self) -> str:
        return f"<RecordingHandler {self.name!r} deliveries={len(self.log)}>"

    @property
    def deliveries(self) -> list[RecordedDelivery[T]]:
        """Every start recorded in this handler's log (shared logs included)."""
        return self.log.deliveries

    def _should_fail(self, job: QueueJob[T]) -> bool:
        seen = sum(1 for d in self.log.deliveries if d.job.id == job.id)
        if seen < self.fail_times:
            return True
        if job.id in self.fail_ids:
            return True
        return self.fail_when is not None and self.fail_when(job)

    async def __call__(self, job: QueueJob[T]) -> None:
        """Record the delivery, then sleep / wait for the gate, then fail if told to."""
        fail = self._should_fail(job)
        log = self.log
        delivery = RecordedDelivery(
            job=job, consumer=self.name, started_at=trio.current_time(), failed=fail
        )
        log.deliveries.append(delivery)
        log.max_running = max(log.max_running, log.running)
        log._changed()  # pyright: ignore[reportPrivateUsage]  # same module's helper
        try:
            duration = self.duration(job) if callable(self.duration) else self.duration
            if duration > 0:
                await trio.sleep(duration)
            if self.gate is not None:
                await self.gate.wait()
            else:
                await trio.lowlevel.checkpoint()
        except trio.Cancelled:
            log.cancelled.append((delivery, trio.current_time()))
            raise
        finally:
            log.finished += 1
            log._changed()  # pyright: ignore[reportPrivateUsage]  # same module's helper
        if fail:
            msg = f"{self.name}: told to fail job {job.id!r} (attempts={job.attempts})"
            raise HandlerFailure(msg)
