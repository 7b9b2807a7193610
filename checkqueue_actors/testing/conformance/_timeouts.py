"""Conformance tests of delivery timeouts: the group's, the job's own, JobTimeoutError."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase, starts, stats_are

if TYPE_CHECKING:
    from ..._model import QueueJob
    from .._recording import DeliveryLog
    from ._harness import ConformanceHarness

__all__ = ["TimeoutsConformance"]


def _runs(log: DeliveryLog[Any]) -> dict[str, list[float | None]]:
    """Per job id, how long each cancelled call ran before the cancellation (None: not
    cancelled), in start order."""
    cut = {id(d): at - d.started_at for d, at in log.cancelled}
    out: dict[str, list[float | None]] = {}
    for d in log.deliveries:
        out.setdefault(d.job.id, []).append(cut.get(id(d)))
    return out


class TimeoutsConformance(ConformanceBase):
    """Delivery timeouts (``consume(timeout=...)``, ``enqueue(timeout=...)``).

    - A handler still running once its delivery's timeout has passed is cancelled at
      the timeout (``trio.Cancelled`` reaches it) and the delivery fails with a
      ``JobTimeoutError``: retried per ``max_retries`` like any failure, with the usual
      backoff, then failed for good.
    - The job's own timeout wins over its group's, longer or shorter; without a group
      timeout only jobs with their own are cut; a handler that finishes in time completes.
    - A handler that catches the cancellation and returns still fails (timed out).
    - A timeout that is not a finite number > 0 is refused (``ValueError``) by
      ``enqueue`` and ``consume``, which then store nothing.

    Timeouts are trio-clock seconds, not scaled by ``delay_multiplier``: the tests give
    ``cq.seconds(...)`` of them. Also relies on retries and, for the recorded error, on
    the failed-jobs record (``get_failed_jobs``).
    """

    async def test_a_delivery_past_its_groups_timeout_is_cancelled_and_retried(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Cut at the group's timeout each run, retried after 2, 4 s, then failed for good."""
        rec = RecordingHandler[Any](
            duration=lambda job: cq.seconds(1000 if job.data == "slow" else 1)
        )
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=2, timeout=cq.seconds(5))
                t0 = trio.current_time()
                await q.enqueue("slow", job_id="slow")
                await q.enqueue("quick", job_id="quick")
                await rec.log.wait_finished(4)

                await cq.wait_until(stats_are(q, completed=1, failed=1))
                failed = await q.get_failed_jobs()
        slow = [d for d in rec.log.deliveries if d.job.id == "slow"]
        assert [d.job.attempts for d in slow] == [0, 1, 2]
        cq.assert_times([d.started_at - t0 for d in slow], [0, 7, 16])
        runs = _runs(rec.log)
        assert runs["quick"] == [None]
        assert all(took is not None for took in runs["slow"]), runs
        cq.assert_times([t for t in runs["slow"] if t is not None], [5, 5, 5])
        assert [(f.job_id, f.attempts) for f in failed] == [("slow", 2)]
        assert failed[0].error.startswith("JobTimeoutError: "), failed[0].error

    async def test_the_jobs_own_timeout_wins_over_the_groups(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A job's timeout applies instead of its group's, longer or shorter."""
        rec = RecordingHandler[Any](duration=lambda job: cq.seconds(job.data))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=0, timeout=cq.seconds(5))
                await q.enqueue(10, job_id="longer", timeout=cq.seconds(20))
                await q.enqueue(10, job_id="shorter", timeout=cq.seconds(2))
                await q.enqueue(10, job_id="group")
                await q.enqueue(1, job_id="within")
                await rec.log.wait_finished(4)

                await cq.wait_until(stats_are(q, completed=2, failed=2))
        runs = _runs(rec.log)
        assert runs["longer"] == [None]
        assert runs["within"] == [None]
        assert runs["shorter"] != [None], runs
        assert runs["group"] != [None], runs
        cq.assert_times([runs["shorter"][0] or 0.0, runs["group"][0] or 0.0], [2, 5])

    async def test_a_jobs_timeout_applies_without_a_group_timeout(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Without a group timeout only jobs with their own are cut."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=0)
                t0 = trio.current_time()
                await q.enqueue("x", job_id="timed", timeout=cq.seconds(3))
                await q.enqueue("x", job_id="untimed")
                await rec.log.wait_finished(2)
                done = trio.current_time()

                await cq.wait_until(stats_are(q, completed=1, failed=1))
        runs = _runs(rec.log)
        assert runs["untimed"] == [None]
        assert runs["timed"] != [None], runs
        cq.assert_elapsed(runs["timed"][0] or 0.0, 3)
        cq.assert_elapsed(done - t0, 10)

    async def test_a_handler_that_swallows_the_cancellation_still_times_out(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Catching the cancellation and returning is no success: the delivery timed out."""
        seen: list[tuple[int, float]] = []

        async def swallow(job: QueueJob[Any]) -> None:
            started = trio.current_time()
            try:
                await trio.sleep(cq.seconds(1000))
            except trio.Cancelled:
                seen.append((job.attempts, trio.current_time() - started))
            # returns normally: the cancellation is swallowed

        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(swallow, consumer_group="g", max_retries=1, timeout=cq.seconds(4))
                await q.enqueue("x", job_id="x")

                await cq.wait_until(stats_are(q, failed=1))
                stats = await q.get_stats()
        assert [attempts for attempts, _ in seen] == [0, 1]
        cq.assert_times([took for _, took in seen], [4, 4])
        assert (stats.completed, stats.failed, stats.pending) == (0, 1, 0)

    async def test_a_retry_after_a_timeout_starts_with_the_usual_backoff(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A timed-out run counts as an attempt; a quicker rerun completes."""
        rec = RecordingHandler[Any](
            duration=lambda job: cq.seconds(100 if job.attempts == 0 else 1)
        )
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=3, timeout=cq.seconds(3))
                t0 = trio.current_time()
                await q.enqueue("x", job_id="x")
                await rec.log.wait_finished(2)

                await cq.wait_until(stats_are(q, completed=1))
                stats = await q.get_stats()
        assert [j.attempts for j in rec.log.jobs] == [0, 1]
        cq.assert_times(starts(rec.log, t0), [0, 5])
        assert rec.log.cancelled_ids == ["x"]
        assert (stats.completed, stats.failed, stats.pending) == (1, 0, 0)

    async def test_bad_timeouts_are_refused_and_store_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A timeout that is not a finite number > 0 is a ValueError from ``enqueue`` and
        ``consume``; no job is stored and no group is made."""
        with cq.fail_after():
            async with cq.queue() as q:
                for bad in (0, -1, -0.5, math.inf, math.nan):
                    with pytest.raises(ValueError, match="timeout"):
                        await q.enqueue("x", timeout=bad)
                    with pytest.raises(ValueError, match="timeout"):
                        await q.consume(RecordingHandler[Any](), consumer_group="g", timeout=bad)
                stats = await q.get_stats()
        assert (stats.pending, stats.consumer_groups) == (0, 0)
