"""Conformance tests of the failed-jobs record: get, retry and drop failed deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase, stats_are

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["FailedRecordConformance"]


def _error(handler: str, job_id: str, attempts: int) -> str:
    return f"HandlerFailure: {handler}: told to fail job {job_id!r} (attempts={attempts})"


class FailedRecordConformance(ConformanceBase):
    """The failed-jobs record (``get_failed_jobs``, ``retry_failed_job``,
    ``drop_failed_jobs``).

    - A delivery that fails for good (its retries exhausted) is recorded once per job
      and group, with the job's id, data and priority, the group, the retries made
      (``attempts``), the error as ``"ExcType: message"`` and a UTC ``failed_at``;
      entries come newest first, filtered by group and cut at ``limit`` (``limit`` < 0
      is a ``ValueError``, 0 gives none). A later failure of the same job in the same
      group replaces its entry (newest again).
    - ``retry_failed_job(job_id, consumer_group=g)`` delivers the job again to ``g``
      only, with ``attempts`` from 0, and takes the entry out of the record; it is
      False (and does nothing) for a group that did not fail the job or an unknown id.
    - ``drop_failed_jobs(consumer_group=g)`` removes ``g``'s entries, all when None,
      and returns how many; the ``failed`` counter of the stats is unchanged by it.

    Also relies on retries and two groups.
    """

    async def test_a_failure_for_good_is_recorded_newest_first(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Entries per job and group with data, priority, attempts, error; filter, limit."""
        a = RecordingHandler[Any]("a", fail_ids={"x", "y"})
        b = RecordingHandler[Any]("b", fail_ids={"x", "y"})
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=2)
                await q.consume(b, consumer_group="b", max_retries=0)
                await q.enqueue({"n": 1}, job_id="x", priority=3)
                # x fails for good in b at once, in a after its backoffs (2 + 4); y is
                # enqueued only then (waiting for the record, not for a fixed time: on
                # a loaded machine in real time, a's retries of x may come late)
                await cq.wait_until(stats_are(q, failed=2))
                await cq.sleep(4)
                await q.enqueue({"n": 2}, job_id="y")
                await cq.wait_until(stats_are(q, failed=4))
                failed = await q.get_failed_jobs()
                in_a = await q.get_failed_jobs(consumer_group="a")
                first = await q.get_failed_jobs(limit=1)
                first_b = await q.get_failed_jobs(consumer_group="b", limit=1)
                none = await q.get_failed_jobs(limit=0)
                nobody = await q.get_failed_jobs(consumer_group="nobody")
                with pytest.raises(ValueError, match="limit"):
                    await q.get_failed_jobs(limit=-1)
        # failures: x in b at 0, x in a at 6, y in b at 10 or later, y in a 6 after it
        assert [(f.job_id, f.consumer_group, f.attempts) for f in failed] == [
            ("y", "a", 2),
            ("y", "b", 0),
            ("x", "a", 2),
            ("x", "b", 0),
        ]
        x_a = failed[2]
        assert (x_a.data, x_a.priority, x_a.error) == ({"n": 1}, 3, _error("a", "x", 2))
        assert (failed[1].data, failed[1].priority) == ({"n": 2}, 0)
        assert failed[1].error == _error("b", "y", 0)
        assert all(f.failed_at.utcoffset() == timedelta(0) for f in failed)
        cq.assert_elapsed((failed[2].failed_at - failed[3].failed_at).total_seconds(), 6)
        cq.assert_elapsed((failed[0].failed_at - failed[1].failed_at).total_seconds(), 6)
        assert [(f.job_id, f.consumer_group) for f in in_a] == [("y", "a"), ("x", "a")]
        assert first == failed[:1]
        assert first_b == [failed[1]]
        assert none == []
        assert nobody == []

    async def test_a_later_failure_replaces_the_entry(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """One entry per job and group: a retried job failing again is the newest entry."""
        rec = RecordingHandler[Any](fail_times=100)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=1)
                await q.enqueue(1, job_id="old")
                await cq.wait_until(stats_are(q, failed=1))
                await q.enqueue(2, job_id="new")
                await cq.wait_until(stats_are(q, failed=2))
                await cq.sleep(1)
                assert await q.retry_failed_job("old", consumer_group="g")
                await cq.wait_until(stats_are(q, failed=3))
                failed = await q.get_failed_jobs()
        assert [(f.job_id, f.attempts) for f in failed] == [("old", 1), ("new", 1)]
        assert [(j.id, j.attempts) for j in rec.log.jobs] == [
            ("old", 0),
            ("old", 1),
            ("new", 0),
            ("new", 1),
            ("old", 0),
            ("old", 1),
        ]

    async def test_retry_failed_job_runs_in_that_group_only(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """The retried entry runs again in its group, attempts from 0, and leaves the record."""
        failing = {"j"}
        log = DeliveryLog[Any]()
        a = RecordingHandler[Any]("a", log=log, fail_when=lambda job: job.id in failing)
        b = RecordingHandler[Any]("b", log=log)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=1)
                await q.consume(b, consumer_group="b", max_retries=1)
                await q.enqueue("payload", job_id="j")
                await cq.wait_until(stats_are(q, failed=1))
                await log.wait_finished(3)
                assert not await q.retry_failed_job("j", consumer_group="b")
                assert not await q.retry_failed_job("j", consumer_group="nobody")
                assert not await q.retry_failed_job("unknown", consumer_group="a")
                failing.clear()
                assert await q.retry_failed_job("j", consumer_group="a")
                assert await q.get_failed_jobs() == []
                assert not await q.retry_failed_job("j", consumer_group="a")
                await log.wait_finished(4)

                await cq.wait_until(stats_are(q, completed=2))
                await cq.sleep(20)
                stats = await q.get_stats()
        runs = [(d.consumer, d.job.attempts) for d in log.deliveries]
        assert sorted(runs[:3]) == [("a", 0), ("a", 1), ("b", 0)]
        assert runs[3:] == [("a", 0)]
        assert (stats.pending, stats.failed, stats.completed) == (0, 1, 2)

    async def test_drop_failed_jobs_by_group_and_all(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Entries are dropped by group or all at once; the stats keep counting them."""
        names = {"p", "q", "r"}
        a = RecordingHandler[Any]("a", fail_ids=names)
        b = RecordingHandler[Any]("b", fail_ids=names)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=0)
                await q.consume(b, consumer_group="b", max_retries=0)
                for name in sorted(names):
                    await q.enqueue(name, job_id=name)
                await cq.wait_until(stats_are(q, failed=6))
                assert await q.drop_failed_jobs(consumer_group="a") == 3
                assert await q.drop_failed_jobs(consumer_group="a") == 0
                left = await q.get_failed_jobs()
                assert await q.retry_failed_job("p", consumer_group="a") is False
                assert await q.drop_failed_jobs() == 3
                assert await q.get_failed_jobs() == []
                assert await q.drop_failed_jobs() == 0
                stats = await q.get_stats()
        assert sorted((f.job_id, f.consumer_group) for f in left) == [
            ("p", "b"),
            ("q", "b"),
            ("r", "b"),
        ]
        assert stats.failed == 6
