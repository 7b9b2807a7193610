"""Conformance tests of ``stop(grace_period=...)``: running handlers cut and released."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ..._model import QueueJob
    from ._harness import ConformanceHarness

__all__ = ["GracePeriodConformance"]


class GracePeriodConformance(ConformanceBase):
    """``stop(grace_period=...)``.

    - Handlers still running once the grace period has passed are cancelled
      (``trio.Cancelled`` reaches them) and ``stop`` returns then; their deliveries are
      released: not an attempt, not a failure, the job is pending again (and
      ``export_pending`` returns it). Handlers that finish within the period complete.
    - ``stop`` returns as soon as the handlers are done when that comes first, and
      ``grace_period=0`` cuts them at once.
    - A handler that turns the cancellation into an error is released all the same
      (no retry, no failure, even with ``max_retries=0``).
    - A grace period that is negative or not a number is a ``ValueError``; the queue
      keeps running.

    Grace periods are trio-clock seconds, not scaled: the tests give ``cq.seconds(...)``.
    Also relies on ``export_pending`` and retries.
    """

    async def test_grace_period_cancels_hung_handlers_and_releases_their_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Hung handlers are cut once the period has passed; their jobs stay pending."""
        rec = RecordingHandler[Any](
            duration=lambda job: cq.seconds(2 if job.data == "quick" else 100_000)
        )
        with cq.fail_after():
            q = cq.queue(concurrency=4)
            async with q:
                await q.consume(rec, consumer_group="g", max_retries=0)
                await q.enqueue("hung", job_id="a", priority=2)
                await q.enqueue("hung", job_id="b", priority=1)
                await q.enqueue("quick", job_id="c")
                await rec.log.wait_for(3)
                began = trio.current_time()
                await q.stop(grace_period=cq.seconds(5))
                took = trio.current_time() - began
                stats = await q.get_stats()
            exported = await q.export_pending()
        cq.assert_elapsed(took, 5)
        assert sorted(rec.log.cancelled_ids) == ["a", "b"]
        assert (stats.completed, stats.failed, stats.processing, stats.pending) == (1, 0, 0, 2)
        assert sorted((p.id, p.remaining_delay) for p in exported) == [("a", 0.0), ("b", 0.0)]

    async def test_handlers_done_within_the_grace_period_are_not_cancelled(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``stop`` returns once the handlers are done, before the period ends."""
        rec = RecordingHandler[Any](duration=cq.seconds(3))
        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.enqueue("x")
                await rec.log.wait_for(1)
                await q.stop(grace_period=cq.seconds(30))
                took = trio.current_time() - t0
                stats = await q.get_stats()
            exported = await q.export_pending()
        cq.assert_elapsed(took, 3)
        assert rec.log.cancelled == []
        assert (stats.completed, stats.pending) == (1, 0)
        assert exported == []

    async def test_a_zero_grace_period_cuts_at_once_and_keeps_the_attempts(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``grace_period=0``: cut now; a job in its second run is released, not failed."""
        rec = RecordingHandler[Any](
            fail_when=lambda job: job.attempts == 0,
            duration=lambda job: 0 if job.attempts == 0 else cq.seconds(100_000),
        )
        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.consume(rec, consumer_group="g", max_retries=1)
                await q.enqueue("x", job_id="x")
                await rec.log.wait_for(2)
                began = trio.current_time()
                await q.stop(grace_period=0)
                took = trio.current_time() - began
                stats = await q.get_stats()
            exported = await q.export_pending()
        cq.assert_elapsed(took, 0)
        assert [j.attempts for j in rec.log.jobs] == [0, 1]
        assert rec.log.cancelled_ids == ["x"]
        assert (stats.completed, stats.failed, stats.pending) == (0, 0, 1)
        assert [p.id for p in exported] == ["x"]

    async def test_a_handler_turning_the_cancellation_into_an_error_is_released(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An error raised from the cancellation is no failure: released, not retried."""
        running = trio.Event()

        async def convert(job: QueueJob[Any]) -> None:
            running.set()
            try:
                await trio.sleep(cq.seconds(100_000))
            except trio.Cancelled:
                msg = "interrupted"
                raise RuntimeError(msg) from None

        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.consume(convert, consumer_group="g", max_retries=0)
                await q.enqueue("x", job_id="x")
                await running.wait()
                await q.stop(grace_period=0)
                stats = await q.get_stats()
                failed = await q.get_failed_jobs()
            exported = await q.export_pending()
        assert (stats.completed, stats.failed, stats.pending) == (0, 0, 1)
        assert failed == []
        assert [p.id for p in exported] == ["x"]

    async def test_a_bad_grace_period_raises_and_changes_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A negative or non-numeric grace period is a ValueError; the queue runs on."""
        rec = RecordingHandler[Any]()
        bad: tuple[Any, ...] = (-1, math.nan, "5", True)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                for grace_period in bad:
                    with pytest.raises(ValueError, match="grace_period"):
                        await q.stop(grace_period=grace_period)
                await q.enqueue("still running")
                await rec.log.wait_for(1)
        assert rec.log.data == ["still running"]
