"""Conformance tests of cancel_job: waiting, delayed, retrying and running jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase, pending_is, stats_are

if TYPE_CHECKING:
    from ..._model import QueueJob
    from ._harness import ConformanceHarness

__all__ = ["CancelConformance"]


class CancelConformance(ConformanceBase):
    """``cancel_job``.

    - A job waiting, delayed or in a retry backoff is removed from every group: it is
      never delivered again, no longer pending, and its id is free again.
    - A running delivery of it is cancelled: ``trio.Cancelled`` reaches the handler, and
      the delivery is neither retried nor counted as completed or failed (nor recorded
      as failed), even when the handler turns the cancellation into an error.
    - ``cancel_job`` returns True when it cancelled something, False for an unknown id,
      a finished job, or a job cancelled already.

    Also relies on two groups, retries, start delays, ``get_job`` and the failed-jobs
    record.
    """

    async def test_cancel_waiting_delayed_and_retrying_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Removed from both groups: never delivered, not pending, the id free again."""
        log = DeliveryLog[Any]()

        def handler(name: str) -> RecordingHandler[Any]:
            return RecordingHandler[Any](
                name,
                log=log,
                fail_when=lambda job: job.id == "r" and job.attempts < 4,
                duration=lambda job: cq.seconds(30) if job.id == "block" else 0,
            )

        with cq.fail_after():
            async with cq.queue(concurrency=2) as q:
                await q.consume(handler("a"), consumer_group="a", max_retries=5)
                await q.consume(handler("b"), consumer_group="b", max_retries=5)
                await q.enqueue("r", job_id="r")
                await log.wait_finished(8)  # r failed at 0, 2, 6, 14 in both: back at 30
                await q.enqueue("block", job_id="block")
                await log.wait_for(10)  # both slots busy until 44
                await q.enqueue("w", job_id="w")
                await q.enqueue("d", job_id="d", start_delay=5)
                await cq.settle()
                pending = (await q.get_stats()).pending
                results = [await q.cancel_job(job_id) for job_id in ("w", "d", "r")]
                again = [await q.cancel_job(job_id) for job_id in ("w", "d", "r")]
                infos = [await q.get_job(job_id) for job_id in ("w", "d", "r")]
                after = (await q.get_stats()).pending
                await cq.sleep(40)  # past block, r's backoff and d's delay
                delivered = sorted(d.job.id for d in log.deliveries[8:])
                before = len(log)  # read first: a delivery can start before enqueue returns
                await q.enqueue("w again", job_id="w")
                await log.wait_finished(before + 2)
                await cq.wait_until(stats_are(q, completed=4, pending=0))
                stats = await q.get_stats()
        assert pending == 3
        assert results == [True, True, True]
        assert again == [False, False, False]
        assert infos == [None, None, None]
        assert after == 0
        assert delivered == ["block", "block"]
        assert sorted(d.job.data for d in log.deliveries[10:]) == ["w again", "w again"]
        assert (stats.completed, stats.failed, stats.pending) == (4, 0, 0)

    async def test_an_id_reused_after_cancelling_a_retry_retries_normally(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """The backoff of a cancelled job ends nothing: a new job with its id retries."""
        rec = RecordingHandler[Any](fail_when=lambda job: job.attempts == 0)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=3)
                t0 = trio.current_time()
                await q.enqueue("old", job_id="j")  # fails at 0: back at 2
                await rec.log.wait_finished(1)
                await cq.sleep(1)
                assert await q.cancel_job("j")
                await q.enqueue("new", job_id="j")  # fails at 1: back at 3
                await rec.log.wait_finished(3)
                await cq.wait_until(stats_are(q, completed=1, pending=0))
        assert [(j.data, j.attempts) for j in rec.log.jobs] == [("old", 0), ("new", 0), ("new", 1)]
        cq.assert_times([d.started_at - t0 for d in rec.log.deliveries[1:]], [1, 3])

    async def test_cancel_a_running_job(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """The handler sees ``trio.Cancelled``; no retry, no completion, no failure."""
        a = RecordingHandler[Any]("a", duration=cq.seconds(1000))
        b = RecordingHandler[Any]("b", duration=cq.seconds(1000))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=3)
                await q.consume(b, consumer_group="b", max_retries=3)
                await q.enqueue("x", job_id="x")
                await a.log.wait_for(1)
                await b.log.wait_for(1)
                cancelled = await q.cancel_job("x")
                await a.log.wait_finished(1)
                await b.log.wait_finished(1)
                await cq.wait_until(pending_is(q, 0))
                await cq.sleep(50)  # a retry would have come by now
                stats = await q.get_stats()
                failed = await q.get_failed_jobs()
                info = await q.get_job("x")
                again = await q.cancel_job("x")
        assert cancelled is True
        assert (a.log.cancelled_ids, b.log.cancelled_ids) == (["x"], ["x"])
        assert (len(a.log), len(b.log)) == (1, 1)
        assert (stats.completed, stats.failed, stats.processing, stats.pending) == (0, 0, 0, 0)
        assert failed == []
        assert info is None
        assert again is False

    async def test_a_running_job_is_removed_from_the_groups_still_waiting_for_it(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """One slot: one group runs the job, the other waits; cancel ends both."""
        log = DeliveryLog[Any]()
        a = RecordingHandler[Any]("a", log=log, duration=cq.seconds(1000))
        b = RecordingHandler[Any]("b", log=log, duration=cq.seconds(1000))
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(a, consumer_group="a")
                await q.consume(b, consumer_group="b")
                await q.enqueue("x", job_id="x")
                await log.wait_for(1)
                await cq.settle()
                assert await q.cancel_job("x")
                await log.wait_finished(1)
                await cq.sleep(50)
                stats = await q.get_stats()
        assert len(log) == 1
        assert log.cancelled_ids == ["x"]
        assert (stats.completed, stats.failed, stats.pending) == (0, 0, 0)

    async def test_a_handler_turning_the_cancellation_into_an_error_is_not_failed(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An error raised from the cancellation counts for nothing: no retry, no failure."""
        runs: list[int] = []
        started = trio.Event()

        async def convert(job: QueueJob[Any]) -> None:
            runs.append(job.attempts)
            started.set()
            try:
                await trio.sleep(cq.seconds(1000))
            except trio.Cancelled:
                msg = "interrupted"
                raise RuntimeError(msg) from None

        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(convert, consumer_group="g", max_retries=2)
                await q.enqueue("x", job_id="x")
                await started.wait()
                assert await q.cancel_job("x")
                await cq.wait_until(pending_is(q, 0))
                await cq.sleep(50)
                stats = await q.get_stats()
                failed = await q.get_failed_jobs()
        assert runs == [0]
        assert (stats.completed, stats.failed, stats.processing) == (0, 0, 0)
        assert failed == []

    async def test_cancel_job_is_false_when_nothing_is_cancelled(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Unknown ids, finished jobs and jobs only in the failed-jobs record: False."""
        rec = RecordingHandler[Any](fail_ids={"bad"})
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=0)
                await q.enqueue("ok", job_id="ok")
                await q.enqueue("bad", job_id="bad")
                await rec.log.wait_finished(2)

                await cq.wait_until(stats_are(q, completed=1, failed=1))
                results = [await q.cancel_job(job_id) for job_id in ("unknown", "ok", "bad")]
                failed = await q.get_failed_jobs()
        assert results == [False, False, False]
        assert [f.job_id for f in failed] == ["bad"]
