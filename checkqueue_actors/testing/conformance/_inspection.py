"""Conformance tests of get_job and list_jobs: every state, the order, filters and limits."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from ..._model import JobGroupState
from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase, stats_are

if TYPE_CHECKING:
    from datetime import datetime

    from ..._model import JobInfo
    from ._harness import ConformanceHarness

__all__ = ["InspectionConformance"]

_RUN = 60
"""How long (unscaled seconds) the handlers of the tests' blocking jobs run."""


def _error(handler: str, job_id: str, attempts: int) -> str:
    return f"HandlerFailure: {handler}: told to fail job {job_id!r} (attempts={attempts})"


def _ids(infos: list[JobInfo[Any]]) -> list[str]:
    return [info.id for info in infos]


def _assert_gap(
    cq: ConformanceHarness, later: datetime | None, earlier: datetime | None, expected: float
) -> None:
    """``later - earlier`` is ``expected`` unscaled seconds (real mode: within the
    tolerances, on either side, since both ends come from a backend's clock)."""
    assert later is not None, later
    assert earlier is not None, earlier
    actual = (later - earlier).total_seconds()
    if cq.virtual:
        cq.assert_elapsed(actual, expected)
    else:
        want = cq.seconds(expected)
        slack = cq.late_tolerance
        assert want - slack <= actual <= want + slack, f"{actual} not within {slack} of {want}"


class InspectionConformance(ConformanceBase):
    """``get_job`` and ``list_jobs``.

    - ``get_job(job_id)`` returns the job's id, data, priority, UTC timestamp, headers
      and, per group that still owes it or failed it, a ``JobGroupState``: ``waiting``
      (with the time it became available), ``delayed`` (with the end of its start delay),
      ``running`` (no time), ``retrying`` (with the end of the backoff) or ``failed``
      (from the failed-jobs record), the group's ``attempts`` (as the next or current
      ``QueueJob.attempts``; a failed entry's retries) and ``last_error``
      (``"ExcType: message"`` of the group's last failed delivery). A group done with
      the job is left out; ``None`` for a job no group owes or failed, or an unknown id.
    - ``list_jobs(state=s)`` lists the jobs with at least one group in ``s``: waiting
      ones in delivery order (priority, then availability, then enqueue order), delayed
      and retrying ones by the time they become available, failed ones newest failure
      first. ``state=None``: running, waiting, retrying then delayed jobs, each once.
      ``consumer_group`` keeps the jobs whose state in that group matches; ``limit``
      cuts the list and must lie in 1..10000 (else ``ValueError``).

    Also relies on retries, start delays, two groups and the failed-jobs record.
    """

    async def test_get_job_in_every_state(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """Running, retrying, waiting and delayed, then a retry and a delay that end."""
        rec = RecordingHandler[Any](
            fail_when=lambda job: job.id == "r" and job.attempts < 4,
            duration=lambda job: cq.seconds(_RUN) if job.data == "run" else 0,
        )
        ids = ("run1", "r", "w", "d")
        with cq.fail_after():
            async with cq.queue(concurrency=2) as q:
                await q.consume(rec, consumer_group="g", max_retries=5)
                await q.enqueue("r", job_id="r", priority=2)
                await rec.log.wait_finished(4)  # r failed at 0, 2, 6, 14: back at 30
                await q.enqueue("run", job_id="run1", headers={"k": "v"})
                await q.enqueue("run", job_id="run2")
                await rec.log.wait_for(6)
                await q.enqueue("w", job_id="w", priority=1)
                await q.enqueue({"d": 1}, job_id="d", start_delay=10)
                await cq.settle()
                before = {job_id: await q.get_job(job_id) for job_id in ids}
                unknown = await q.get_job("unknown")
                await cq.sleep(25)  # r's backoff and d's delay are over; both slots busy
                after = {job_id: await q.get_job(job_id) for job_id in ("r", "d")}
        run1, r, w, d = (before[job_id] for job_id in ids)
        assert unknown is None
        assert run1 is not None
        assert r is not None
        assert w is not None
        assert d is not None
        assert (run1.id, run1.data, run1.priority, dict(run1.headers)) == (
            "run1",
            "run",
            0,
            {"k": "v"},
        )
        assert run1.timestamp.utcoffset() == timedelta(0)
        assert dict(run1.groups) == {"g": JobGroupState("running", 0, None, None)}
        assert (r.data, r.priority, dict(w.headers)) == ("r", 2, {})
        r_g, w_g, d_g = r.groups["g"], w.groups["g"], d.groups["g"]
        assert (r_g.state, r_g.attempts, r_g.last_error) == (
            "retrying",
            4,
            _error("handler", "r", 3),
        )
        assert (w_g.state, w_g.attempts, w_g.last_error) == ("waiting", 0, None)
        assert (d.data, d_g.state, d_g.attempts, d_g.last_error) == ({"d": 1}, "delayed", 0, None)
        assert set(r.groups) == set(w.groups) == set(d.groups) == {"g"}
        _assert_gap(cq, d_g.available_at, w_g.available_at, 10)
        _assert_gap(cq, r_g.available_at, w_g.available_at, 16)
        r_after, d_after = after["r"], after["d"]
        assert r_after is not None
        assert d_after is not None
        assert r_after.groups["g"] == JobGroupState(
            "waiting", 4, r_g.available_at, _error("handler", "r", 3)
        )
        assert d_after.groups["g"] == JobGroupState("waiting", 0, d_g.available_at, None)

    async def test_get_job_shows_failed_groups_until_they_are_dropped(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A group that failed the job shows ``failed``; done groups leave; then None."""
        a = RecordingHandler[Any]("a", fail_ids={"j"})
        b = RecordingHandler[Any]("b", duration=lambda job: cq.seconds(10))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a", max_retries=0)
                await q.consume(b, consumer_group="b")
                await q.enqueue("data", job_id="j", priority=4)
                await q.enqueue("fine", job_id="ok")
                await a.log.wait_finished(2)

                await cq.wait_until(stats_are(q, failed=1))
                both = await q.get_job("j")
                await b.log.wait_finished(2)

                await cq.wait_until(stats_are(q, completed=3))
                failed_only = await q.get_job("j")
                finished = await q.get_job("ok")
                listed_failed = await q.list_jobs(state="failed")
                listed = await q.list_jobs()
                assert await q.drop_failed_jobs() == 1
                dropped = await q.get_job("j")
        failure = JobGroupState("failed", 0, None, _error("a", "j", 0))
        assert both is not None
        assert dict(both.groups) == {"a": failure, "b": JobGroupState("running", 0, None, None)}
        assert failed_only is not None
        assert (failed_only.id, failed_only.data, failed_only.priority) == ("j", "data", 4)
        assert dict(failed_only.groups) == {"a": failure}
        assert finished is None
        assert _ids(listed_failed) == ["j"]
        assert listed == []
        assert dropped is None

    async def test_list_jobs_by_state_in_order(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Each state in its order; ``None``: running, waiting, retrying, delayed; limit."""
        rec = RecordingHandler[Any](
            fail_when=lambda job: job.id == "r" and job.attempts < 4,
            duration=lambda job: cq.seconds(_RUN) if job.id == "block" else 0,
        )
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g", max_retries=5)
                await q.enqueue("r", job_id="r")
                await rec.log.wait_finished(4)  # r failed at 0, 2, 6, 14: back at 30
                await q.enqueue("block", job_id="block")
                await rec.log.wait_for(5)
                for job_id, priority in (("w1", 0), ("w2", 5), ("w3", 0), ("w4", -1)):
                    await q.enqueue(job_id, job_id=job_id, priority=priority)
                await q.enqueue("d_late", job_id="d_late", start_delay=20)  # at 34
                await q.enqueue("d_soon", job_id="d_soon", start_delay=12)  # at 26
                await cq.settle()
                everything = await q.list_jobs()
                by_state = {
                    state: _ids(await q.list_jobs(state=state))
                    for state in ("running", "waiting", "retrying", "delayed", "failed")
                }
                first_three = await q.list_jobs(limit=3)
                two_waiting = await q.list_jobs(state="waiting", limit=2)
                await cq.sleep(22)  # r back at 30, d_soon at 26, d_late at 34
                waiting_later = _ids(await q.list_jobs(state="waiting"))
                later = _ids(await q.list_jobs())
        assert _ids(everything) == ["block", "w2", "w1", "w3", "w4", "r", "d_soon", "d_late"]
        assert by_state == {
            "running": ["block"],
            "waiting": ["w2", "w1", "w3", "w4"],
            "retrying": ["r"],
            "delayed": ["d_soon", "d_late"],
            "failed": [],
        }
        assert _ids(first_three) == ["block", "w2", "w1"]
        assert _ids(two_waiting) == ["w2", "w1"]
        assert waiting_later == ["w2", "w1", "w3", "d_soon", "r", "d_late", "w4"]
        assert later == ["block", *waiting_later]
        w2 = everything[1]
        assert (w2.data, w2.priority, set(w2.groups)) == ("w2", 5, {"g"})

    async def test_list_jobs_of_one_group(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """``consumer_group`` keeps the jobs whose state in that group matches."""
        log = DeliveryLog[Any]()
        a = RecordingHandler[Any]("a", log=log, duration=lambda job: cq.seconds(_RUN))
        b = RecordingHandler[Any]("b", log=log)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a")
                await q.consume(b, consumer_group="b")
                await q.enqueue("x", job_id="x")
                await q.enqueue("d", job_id="d", start_delay=20)
                await log.wait_finished(1)  # b is done with x; a still runs it
                await cq.settle()
                in_a = await q.list_jobs(consumer_group="a")
                in_b = await q.list_jobs(consumer_group="b")
                running_a = await q.list_jobs(consumer_group="a", state="running")
                running_b = await q.list_jobs(consumer_group="b", state="running")
                delayed_b = await q.list_jobs(consumer_group="b", state="delayed")
                nobody = await q.list_jobs(consumer_group="nobody")
        assert _ids(in_a) == ["x", "d"]
        assert _ids(in_b) == ["d"]
        assert _ids(running_a) == ["x"]
        assert set(running_a[0].groups) == {"a"}
        assert running_b == []
        assert _ids(delayed_b) == ["d"]
        assert {g: s.state for g, s in delayed_b[0].groups.items()} == {
            "a": "delayed",
            "b": "delayed",
        }
        assert nobody == []

    async def test_list_jobs_limit_must_lie_in_range(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``limit`` outside 1..10000 is a ValueError; 10000 is fine."""
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(RecordingHandler[Any](), consumer_group="g")
                await q.enqueue("x", job_id="x", start_delay=100)
                for bad in (0, -1, 10_001):
                    with pytest.raises(ValueError, match="limit"):
                        await q.list_jobs(limit=bad)
                listed = await q.list_jobs(limit=10_000)
        assert _ids(listed) == ["x"]
        assert [s.state for s in listed[0].groups.values()] == ["delayed"]
