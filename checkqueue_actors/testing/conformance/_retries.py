"""Conformance tests of retries: backoff, max_retries, per-group attempts and isolation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["RetriesConformance"]


class RetriesConformance(ConformanceBase):
    """Retries of failed deliveries.

    - A failed delivery is retried 2, 4, 8, ... seconds (times ``delay_multiplier``)
      after each failure, up to the group's ``max_retries``; then it fails for good
      (``failed`` in the stats). ``max_retries=0`` means one run.
    - ``delay_multiplier`` scales start delays, retry backoff and interval schedules
      alike (one test uses half the harness's multiplier, also in virtual mode).
    - Retries, ``attempts`` and ``max_retries`` belong to the (job, group) pair: each
      group sees its own attempts only, and a group that keeps failing changes nothing
      for another group's deliveries.
    - A consumer joining a group with another ``max_retries`` than the group's is a
      ``ValueError``.
    - A retry keeps its job's priority, and goes to the group's next consumer in
      round-robin order.

    Also relies on consumer groups (two groups, competing consumers) and, for the
    multiplier, on start delays and interval schedules.
    """

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
        cq.assert_times(starts(rec.log, t0), [0, 2, 6, 14])
        assert [j.attempts for j in rec.log.jobs] == [0, 1, 2, 3]
        assert (stats.pending, stats.completed, stats.failed) == (0, 0, 1)

    async def test_delay_multiplier_scales_delays_backoff_and_intervals(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``delay_multiplier`` scales start delays, retry backoff and interval schedules.

        The queue gets half the harness's multiplier (0.5 in virtual mode), so a backend
        that ignores its multiplier fails in either mode.
        """
        factor = 0.5
        rec = RecordingHandler[Any](
            fail_when=lambda job: job.data == "retried" and job.attempts < 2
        )
        with cq.fail_after():
            async with cq.queue(delay_multiplier=cq.delay_multiplier * factor) as q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                t0 = trio.current_time()
                await q.enqueue("delayed", start_delay=10)
                await q.enqueue("retried")
                await q.schedule_recurring("tick", job_id="tick", interval_seconds=8, start_delay=3)
                await rec.log.wait_for(7)
                await q.cancel_recurring("tick")
        by_data: dict[str, list[float]] = {}
        for delivery in rec.log.deliveries:
            by_data.setdefault(delivery.job.data, []).append(delivery.started_at - t0)
        cq.assert_times(by_data["retried"], [0, 2 * factor, 6 * factor])
        cq.assert_times(by_data["delayed"], [10 * factor])
        cq.assert_times(by_data["tick"], [3 * factor, 11 * factor, 19 * factor])

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
        cq.assert_times(starts(flaky.log, t0), [0, 2, 6])
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
        cq.assert_times(starts(fine.log, t0), [0, 1])
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
