"""Conformance tests of consumer groups: competing consumers, broadcast, the first group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["GroupsConformance"]


class GroupsConformance(ConformanceBase):
    """Consumer groups.

    - Consumers of one group compete: each job goes to one of them, in round-robin order.
    - Different groups are a broadcast: each group receives each job once.
    - A job enqueued while no group exists waits (pending) and goes to the first group
      that registers (a delayed one once its delay has passed).
    - A job goes to the groups that exist when it is enqueued, not to later ones.
    """

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

    async def test_delayed_job_without_groups_goes_to_the_first_group(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job enqueued with a delay and no group goes to the first group once due."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                t0 = trio.current_time()
                await q.enqueue("delayed", start_delay=10)
                await q.enqueue("ready")
                await cq.sleep(2)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
                await cq.settle()
                stats = await q.get_stats()
        assert rec.log.data == ["ready", "delayed"]
        cq.assert_times(starts(rec.log, t0), [2, 10])
        assert (stats.pending, stats.completed) == (0, 2)

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
