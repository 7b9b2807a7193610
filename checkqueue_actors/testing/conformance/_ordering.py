"""Conformance tests of delivery order: priority, then availability, then FIFO; delays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["OrderingConformance"]


class OrderingConformance(ConformanceBase):
    """Delivery order within a group, and delayed jobs.

    - Waiting jobs are delivered by ``priority`` (higher first), then by when they
      became available (enqueued, or their ``start_delay`` passed), then in enqueue
      order (never by job id); the same holds for jobs that queued up before the
      first group registered and for jobs that queued up behind a busy consumer.
    - A job with ``start_delay`` is not delivered before the delay has passed.

    The tests use ``concurrency=1`` where the order must be observable.
    """

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

    async def test_fifo_within_a_priority_whatever_the_ids(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Jobs of one priority run in enqueue order, not in the order of their ids."""
        gate = trio.Event()
        rec = RecordingHandler[Any](gate=gate)
        ids = ["z", "c", "x", "a", "q", "b"]
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("blocker", job_id="m")
                await rec.log.wait_for(1)
                for job_id in ids:
                    await q.enqueue(job_id, job_id=job_id)
                await cq.settle()
                gate.set()
                await rec.log.wait_for(1 + len(ids))
        assert rec.log.data == ["blocker", *ids]

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
        cq.assert_times(starts(rec.log, t0), [0, 10])
