"""Conformance tests of get_stats()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["StatsConformance"]


class StatsConformance(ConformanceBase):
    """The counters of ``get_stats()``.

    - ``pending`` counts distinct waiting jobs: a job waiting for two groups counts once.
    - ``processing`` counts running handlers.
    - ``completed`` and ``failed`` count deliveries per group: a job done in two
      groups counts twice.
    - ``consumer_groups`` counts the registered groups.

    Also relies on consumer groups and retries (a job that fails for good).
    """

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
