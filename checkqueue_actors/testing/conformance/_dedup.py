"""Conformance tests of deduplication by job id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["DedupConformance"]


class DedupConformance(ConformanceBase):
    """Deduplication by ``job_id``.

    Enqueueing an id that is still in the queue is a no-op that returns the id:
    while the job waits for a first group, while it is delayed, while it runs,
    while it waits out a retry backoff (the retry carries the first data), and while
    any group is not done with it. Once every group is done, the id is free again.

    Also relies on retries (one test fails a delivery once) and on two groups.
    """

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
