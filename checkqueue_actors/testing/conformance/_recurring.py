"""Conformance tests of recurring jobs: interval and cron schedules, redeclare, cancel."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import trio

from ..._errors import InvalidScheduleError
from .._recording import RecordingHandler
from ._harness import ConformanceBase, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["RecurringConformance"]


class RecurringConformance(ConformanceBase):
    """Recurring jobs (``schedule_recurring`` and friends).

    - An interval schedule fires after its ``start_delay`` (default 0), then every
      ``interval_seconds`` on a fixed grid that run time does not shift (occurrences
      may overlap); each occurrence is a job with id ``"<job_id>:..."`` and the
      schedule's data and priority.
    - Declaring a ``job_id`` again with other arguments replaces the schedule and
      drops occurrences no group started (a running one finishes); declaring it
      again with the same arguments changes nothing, even with another ``start_delay``.
    - ``cancel_recurring`` stops future occurrences and drops unstarted ones; it is
      idempotent and ignores unknown ids.
    - ``list_recurring_jobs`` and ``get_recurring_job_details`` describe the active
      schedules, including ``next_run_at``.
    - Bad arguments raise ``ValueError`` (neither or both of ``interval_seconds`` and
      ``cron_pattern``, an interval that is not finite and positive) or
      ``InvalidScheduleError`` (a bad cron pattern or timezone).
    - A cron schedule fires on wall-clock marks in its ``timezone``. Cron is not
      scaled by ``delay_multiplier``: in real mode the firing test uses the six-field
      pattern ``*/2 * * * * *`` (seconds first), so the backend must accept it.
    """

    # -- interval ---------------------------------------------------------------------------

    async def test_interval_job_runs_after_start_delay_then_on_a_grid(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """First occurrence after ``start_delay``, then every ``interval_seconds``."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                rid = await q.schedule_recurring(
                    {"k": 1}, job_id="tick", interval_seconds=10, start_delay=5, priority=2
                )
                await rec.log.wait_for(3)
                await q.cancel_recurring("tick")
        assert rid == "tick"
        cq.assert_times(starts(rec.log, t0), [5, 15, 25])
        assert all(j.id.startswith("tick:") for j in rec.log.jobs)
        assert len(set(rec.log.ids)) == 3
        assert all(j.data == {"k": 1} and j.priority == 2 for j in rec.log.jobs)

    async def test_interval_job_without_start_delay_fires_at_once(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """The default ``start_delay`` is 0: the first occurrence is immediate."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring("x", job_id="tick", interval_seconds=10)
                await rec.log.wait_for(2)
                await q.cancel_recurring("tick")
        cq.assert_times(starts(rec.log, t0), [0, 10])

    async def test_interval_grid_ignores_run_time_and_runs_overlap(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Runs longer than the interval do not shift the grid; occurrences overlap."""
        rec = RecordingHandler[Any](duration=cq.seconds(25))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring("x", job_id="slow", interval_seconds=10)
                await rec.log.wait_for(4)
                await q.cancel_recurring("slow")
        cq.assert_times(starts(rec.log, t0), [0, 10, 20, 30])
        assert rec.log.max_running == 3

    async def test_rescheduling_replaces_and_drops_unstarted_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """New arguments replace the schedule; occurrences no group started are dropped."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring("old", job_id="r", interval_seconds=10)
                await cq.sleep(25)
                assert (await q.get_stats()).pending == 3  # no group yet: 0, 10, 20 wait
                t1 = trio.current_time()
                await q.schedule_recurring("new", job_id="r", interval_seconds=7)
                await cq.settle()
                assert (await q.get_stats()).pending == 1  # the new schedule fired at once
                details = await q.get_recurring_job_details("r")
                assert details is not None
                assert (details.data, details.interval_seconds) == ("new", 7)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
                await q.cancel_recurring("r")
        assert rec.log.data == ["new", "new"]
        cq.assert_elapsed(rec.log.deliveries[1].started_at - t1, 7)

    async def test_rescheduling_lets_a_started_occurrence_finish(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An occurrence already running when the schedule is replaced finishes normally."""
        gate = trio.Event()
        rec = RecordingHandler[Any](gate=gate)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("old", job_id="r", interval_seconds=100)
                await rec.log.wait_for(1)
                await q.schedule_recurring("new", job_id="r", interval_seconds=100)
                gate.set()
                await rec.log.wait_finished(2)
                await cq.settle()
                stats = await q.get_stats()
                await q.cancel_recurring("r")
        assert rec.log.data == ["old", "new"]
        assert (stats.completed, stats.failed) == (2, 0)

    async def test_identical_redeclaration_changes_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Declaring the same schedule again (even with another start_delay) is a no-op."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.schedule_recurring([1, 2], job_id="r", interval_seconds=10, priority=1)
                await rec.log.wait_for(1)
                before = await q.get_recurring_job_details("r")
                await cq.sleep(5)
                await q.schedule_recurring(
                    [1, 2], job_id="r", interval_seconds=10, priority=1, start_delay=1
                )
                after = await q.get_recurring_job_details("r")
                await rec.log.wait_for(3)
                await q.cancel_recurring("r")
                assert await q.list_recurring_jobs() == []
        assert before is not None
        assert after is not None
        assert after.next_run_at == before.next_run_at
        cq.assert_times(starts(rec.log, t0), [0, 10, 20])

    async def test_cancel_recurring_stops_future_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """After cancel no occurrence fires; the job is gone from list and details."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)
                await rec.log.wait_for(1)
                await q.cancel_recurring("r")
                await q.cancel_recurring("r")
                await q.cancel_recurring("never-declared")
                await cq.sleep(50)
                listed = await q.list_recurring_jobs()
                details = await q.get_recurring_job_details("r")
        assert len(rec.log) == 1
        assert listed == []
        assert details is None

    async def test_cancel_recurring_drops_unstarted_occurrences(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Occurrences still waiting when the schedule is cancelled are dropped."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)
                await cq.sleep(15)
                assert (await q.get_stats()).pending == 2
                await q.cancel_recurring("r")
                await cq.settle()
                assert (await q.get_stats()).pending == 0
                await q.consume(rec, consumer_group="g")
                await cq.sleep(30)
        assert rec.log.data == []

    async def test_list_and_details_of_recurring_jobs(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``list_recurring_jobs`` and ``get_recurring_job_details`` describe active schedules."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring({"a": 1}, job_id="a", interval_seconds=10, priority=2)
                await q.schedule_recurring("b", job_id="b", cron_pattern="0 * * * *")
                await rec.log.wait_for(1)
                listed = await q.list_recurring_jobs()
                a = await q.get_recurring_job_details("a")
                b = await q.get_recurring_job_details("b")
                unknown = await q.get_recurring_job_details("c")
                await q.cancel_recurring("a")
                await q.cancel_recurring("b")
        assert sorted(listed) == ["a", "b"]
        assert unknown is None
        assert a is not None
        assert (a.job_id, a.data, a.priority) == ("a", {"a": 1}, 2)
        assert (a.interval_seconds, a.cron_pattern) == (10, None)
        assert a.next_run_at is not None
        gap = (a.next_run_at - rec.log.jobs[0].timestamp).total_seconds()
        cq.assert_elapsed(gap, 10)
        assert b is not None
        assert (b.interval_seconds, b.cron_pattern) == (None, "0 * * * *")
        assert b.next_run_at is not None
        assert (b.next_run_at.minute, b.next_run_at.second) == (0, 0)

    async def test_schedule_recurring_rejects_bad_arguments(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Exactly one of interval / cron, a finite positive interval, a valid cron and zone."""
        with cq.fail_after():
            async with cq.queue() as q:
                with pytest.raises(ValueError, match="interval_seconds"):
                    await q.schedule_recurring("x", job_id="r")
                with pytest.raises(ValueError, match="interval_seconds"):
                    await q.schedule_recurring(
                        "x", job_id="r", interval_seconds=5, cron_pattern="* * * * *"
                    )
                for bad in (0, -1, math.inf, math.nan):
                    with pytest.raises(ValueError, match="interval_seconds"):
                        await q.schedule_recurring("x", job_id="r", interval_seconds=bad)
                for pattern in ("not a cron", "61 * * * *", "* * *"):
                    with pytest.raises(InvalidScheduleError, match="cron"):
                        await q.schedule_recurring("x", job_id="r", cron_pattern=pattern)
                with pytest.raises(InvalidScheduleError, match="timezone"):
                    await q.schedule_recurring(
                        "x", job_id="r", cron_pattern="0 9 * * *", timezone="Mars/Olympus"
                    )
                with pytest.raises(InvalidScheduleError, match="timezone"):
                    await q.schedule_recurring(
                        "x", job_id="r", interval_seconds=5, timezone="Mars/Olympus"
                    )
                listed = await q.list_recurring_jobs()
        assert listed == []
        assert issubclass(InvalidScheduleError, ValueError)

    # -- cron -------------------------------------------------------------------------------

    async def test_cron_next_run_is_on_the_wall_clock_in_its_timezone(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``next_run_at`` of a cron job is the next matching wall time in ``timezone``."""
        with cq.fail_after():
            async with cq.queue() as q:
                await q.schedule_recurring(
                    "x", job_id="nine", cron_pattern="0 9 * * *", timezone="Asia/Tokyo"
                )
                await q.schedule_recurring("y", job_id="five", cron_pattern="*/5 * * * *")
                nine = await q.get_recurring_job_details("nine")
                five = await q.get_recurring_job_details("five")
                await q.cancel_recurring("nine")
                await q.cancel_recurring("five")
        now = datetime.now(UTC)
        assert nine is not None
        assert nine.next_run_at is not None
        local = nine.next_run_at.astimezone(ZoneInfo("Asia/Tokyo"))
        assert (local.hour, local.minute, local.second) == (9, 0, 0)
        assert timedelta(0) < nine.next_run_at - now <= timedelta(days=1, minutes=1)
        assert five is not None
        assert five.next_run_at is not None
        assert five.next_run_at.minute % 5 == 0
        assert five.next_run_at.second == 0
        assert timedelta(0) < five.next_run_at - now <= timedelta(minutes=5, seconds=30)

    async def test_cron_job_fires_on_the_minute(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A cron job fires on its wall-clock marks: ``* * * * *`` twice in virtual mode;
        in real mode the six-field ``*/2 * * * * *`` (seconds first) twice, to stay fast."""
        rec = RecordingHandler[Any]()
        pattern = "* * * * *" if cq.virtual else "*/2 * * * * *"
        period = timedelta(minutes=1) if cq.virtual else timedelta(seconds=2)
        with trio.fail_after(max(cq.timeout, 30)):
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.schedule_recurring("c", job_id="minutely", cron_pattern=pattern)
                await rec.log.wait_for(2)
                await q.cancel_recurring("minutely")
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        slack = timedelta(milliseconds=1) if cq.virtual else timedelta(milliseconds=900)
        for job in rec.log.jobs[:2]:
            assert job.id.startswith("minutely:")
            since_mark = (job.timestamp - epoch) % period
            assert since_mark <= slack or period - since_mark <= slack, job.timestamp
        gap = rec.log.deliveries[1].started_at - rec.log.deliveries[0].started_at
        if cq.virtual:
            assert gap == pytest.approx(60, abs=1e-6)
        else:
            assert gap == pytest.approx(2, abs=0.9)
