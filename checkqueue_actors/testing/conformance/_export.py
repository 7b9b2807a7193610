"""Conformance tests of export_pending()."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from .._waiting import wait_until
from ._harness import ConformanceBase, pending_is

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["ExportConformance"]


class ExportConformance(ConformanceBase):
    """``export_pending()`` after ``stop()``.

    It returns the jobs still waiting, including delayed jobs and jobs waiting out a
    retry backoff, each with its id, data, priority, UTC timestamp and remaining delay.

    Also relies on retries (a job waiting out a backoff). A backend that cannot export
    raises ``NotImplementedError`` from ``export_pending`` and leaves this area out.
    """

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
                await wait_until(pending_is(q, 1), timeout=cq.timeout)
                await cq.sleep(0.5)
                waited = trio.current_time() - t0
            exported = await q.export_pending()
        assert [p.id for p in exported] == ["x"]
        if cq.virtual:
            cq.assert_elapsed(exported[0].remaining_delay, 1.5)
        else:  # the failure happened somewhere within `waited`
            low = cq.seconds(2) - waited - cq.early_tolerance
            assert low <= exported[0].remaining_delay <= cq.seconds(2)
