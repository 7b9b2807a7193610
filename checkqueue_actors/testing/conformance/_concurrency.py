"""Conformance tests of the concurrency limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["ConcurrencyConformance"]


class ConcurrencyConformance(ConformanceBase):
    """The ``concurrency`` limit of a queue.

    At most ``concurrency`` handlers run at once; ``get_in_flight_count()`` and
    ``get_stats().processing`` count them, the other jobs stay pending, and each
    waiting job starts when a slot frees up.
    """

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
        cq.assert_times(starts(rec.log, t0), [0, 0, 10, 10, 20])
