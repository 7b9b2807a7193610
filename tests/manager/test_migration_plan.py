"""The migration planner: what a switch does to one queue, checked without running a queue."""

from __future__ import annotations

import ast
import inspect
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkqueue_actors import PendingJob, QueueJob, RecurringJobDetails
from checkqueue_actors import _migration as migration
from checkqueue_actors._migration import (
    ConsumerReplayFailed,
    EnqueueOccurrence,
    EnqueuePending,
    ExportFailed,
    ExportMissing,
    ExportNotImplemented,
    JobKind,
    MigrationPlan,
    MigrationReport,
    MoveFailed,
    OldQueueStopFailed,
    RecurringDetailsFailed,
    RecurringListFailed,
    ScheduleRecurring,
    Subscription,
    SwitchError,
    combine_reports,
    delay_multiplier_of,
    plan_migration,
    settle,
)
from checkqueue_actors._state import policy

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
STAMP = datetime(2030, 6, 1, 11, 0, tzinfo=UTC)

job_ids = st.text(min_size=1, max_size=12)
priorities = st.integers(min_value=policy.PRIORITY_MIN, max_value=policy.PRIORITY_MAX)
multipliers = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)
delays = st.one_of(
    st.just(0.0), st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)
)
walls = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


async def _handler(job: QueueJob[Any]) -> None:
    pass


def _subscriptions(*groups: str) -> list[Subscription[Any]]:
    return [Subscription(_handler, group, 3) for group in groups]


def _pending(job_id: str, remaining_delay: float = 0.0, priority: int = 0) -> PendingJob[str]:
    return PendingJob(job_id, f"data-{job_id}", priority, STAMP, remaining_delay)


def _interval(
    job_id: str, next_run_at: datetime | None, interval: float = 60.0
) -> RecurringJobDetails[str]:
    return RecurringJobDetails(job_id, "tick", 1, interval, None, next_run_at)


def _cron(
    job_id: str, next_run_at: datetime | None, timezone: str | None = None
) -> RecurringJobDetails[str]:
    return RecurringJobDetails(job_id, "cron", 2, None, "0 3 * * *", next_run_at, timezone)


@st.composite
def pending_jobs(draw: st.DrawFn) -> list[PendingJob[int]]:
    ids = draw(st.lists(job_ids, unique=True, max_size=20))
    return [
        PendingJob(job_id, index, draw(priorities), STAMP, draw(delays))
        for index, job_id in enumerate(ids)
    ]


# -- pending jobs -------------------------------------------------------------------------------


@given(jobs=pending_jobs(), multiplier=multipliers)
def test_every_pending_job_yields_one_enqueue_with_its_id_priority_and_scaled_delay(
    jobs: list[PendingJob[int]], multiplier: float
) -> None:
    """One EnqueuePending per job read, in order: same id, data and priority, and a delay
    that is remaining_delay / multiplier (None for a job that is ready now)."""
    plan = plan_migration("q", pending=jobs, now=NOW, delay_multiplier=multiplier)
    assert [move.kind for move in plan.moves] == [JobKind.PENDING] * len(jobs)
    assert [move.job_id for move in plan.moves] == [job.id for job in jobs]
    for move, job in zip(plan.moves, jobs, strict=True):
        assert len(move.operations) == 1
        (operation,) = move.operations
        assert isinstance(operation, EnqueuePending)
        assert (operation.job_id, operation.data, operation.priority) == (
            job.id,
            job.data,
            job.priority,
        )
        if job.remaining_delay > 0:
            assert operation.start_delay == job.remaining_delay / multiplier
        else:
            assert operation.start_delay is None
    report = settle(plan)
    assert (report.pending, report.recurring, report.lost) == (len(jobs), 0, 0)
    assert report.success


# -- recurring jobs -----------------------------------------------------------------------------


@given(
    job_id=job_ids,
    offset=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    multiplier=multipliers,
)
def test_an_interval_schedule_keeps_its_next_occurrence(
    job_id: str, offset: float, multiplier: float
) -> None:
    """The new schedule's first occurrence is at the recorded next_run_at, or at once when
    that already passed: start_delay * multiplier is the time left, never negative."""
    next_run_at = NOW + timedelta(seconds=offset)
    plan = plan_migration(
        "q", recurring=[_interval(job_id, next_run_at)], now=NOW, delay_multiplier=multiplier
    )
    ((operation,),) = [move.operations for move in plan.moves]
    assert isinstance(operation, ScheduleRecurring)
    assert (operation.job_id, operation.data, operation.priority) == (job_id, "tick", 1)
    assert (operation.interval_seconds, operation.cron_pattern) == (60.0, None)
    assert operation.start_delay is not None
    assert operation.start_delay >= 0
    left = max(0.0, (next_run_at - NOW).total_seconds())
    assert operation.start_delay * multiplier == pytest.approx(left, rel=1e-9, abs=1e-9)


def test_an_interval_schedule_without_next_run_starts_at_once() -> None:
    """A schedule with no planned occurrence starts on the new queue with no delay."""
    plan = plan_migration("q", recurring=[_interval("r", None)], now=NOW, delay_multiplier=0.5)
    ((operation,),) = [move.operations for move in plan.moves]
    assert isinstance(operation, ScheduleRecurring)
    assert operation.start_delay == 0.0


@given(job_id=job_ids, late=st.integers(min_value=0, max_value=10**9), due=walls)
def test_a_cron_occurrence_due_during_the_switch_is_enqueued_with_its_occurrence_id(
    job_id: str, late: int, due: datetime
) -> None:
    """A cron schedule whose next_run_at is not after now: the schedule, then one enqueue
    of the due occurrence, with policy.occurrence_id and the schedule's data and priority."""
    now = due + timedelta(microseconds=late)
    plan = plan_migration(
        "q",
        recurring=[_cron(job_id, due, "Europe/Paris")],
        now=now,
        delay_multiplier=2.0,
    )
    (move,) = plan.moves
    assert (move.kind, move.job_id) == (JobKind.RECURRING, job_id)
    schedule, occurrence = move.operations
    assert schedule == ScheduleRecurring(
        job_id=job_id,
        data="cron",
        priority=2,
        cron_pattern="0 3 * * *",
        timezone="Europe/Paris",
    )
    assert occurrence == EnqueueOccurrence(
        recurring_job_id=job_id,
        job_id=policy.occurrence_id(job_id, due),
        data="cron",
        priority=2,
        due_at=due,
    )
    assert settle(plan).recurring == 1


@given(job_id=job_ids, ahead=st.integers(min_value=1, max_value=10**12))
def test_a_cron_schedule_still_ahead_is_only_declared(job_id: str, ahead: int) -> None:
    """A cron schedule whose next occurrence is still ahead enqueues nothing now."""
    plan = plan_migration(
        "q",
        recurring=[_cron(job_id, NOW + timedelta(microseconds=ahead))],
        now=NOW,
    )
    ((operation,),) = [move.operations for move in plan.moves]
    assert isinstance(operation, ScheduleRecurring)
    assert operation.timezone is None
    assert operation.start_delay is None


def test_recurring_jobs_move_before_pending_jobs() -> None:
    """The plan declares every recurring job first, then enqueues the pending jobs."""
    plan = plan_migration(
        "q",
        recurring=[_interval("a", NOW), _cron("b", NOW - timedelta(seconds=1))],
        pending=[_pending("p1"), _pending("p2", 5.0)],
        now=NOW,
    )
    assert [(move.kind, move.job_id) for move in plan.moves] == [
        (JobKind.RECURRING, "a"),
        (JobKind.RECURRING, "b"),
        (JobKind.PENDING, "p1"),
        (JobKind.PENDING, "p2"),
    ]
    assert [type(op) for op in plan.operations] == [
        ScheduleRecurring,
        ScheduleRecurring,
        EnqueueOccurrence,
        EnqueuePending,
        EnqueuePending,
    ]


# -- warnings and counts ------------------------------------------------------------------------


def test_errors_met_before_planning_become_warnings_in_order() -> None:
    """Each error gives one warning naming the queue; unreadable details count as lost."""
    errors: list[SwitchError] = [
        OldQueueStopFailed(OSError("stop")),
        RecurringListFailed(OSError("list")),
        RecurringDetailsFailed("r1", OSError("details")),
        ExportMissing(),
        ExportNotImplemented(),
        ExportFailed(OSError("export")),
        ConsumerReplayFailed("g", ValueError("replay")),
    ]
    plan: MigrationPlan[str] = plan_migration("q", now=NOW, errors=errors)
    assert plan.warnings == (
        "queue 'q': stopping the old queue failed: OSError('stop')",
        "queue 'q': cannot list recurring jobs: OSError('list')",
        "queue 'q': recurring job 'r1' not migrated: cannot read its details: OSError('details')",
        "queue 'q': the old backend's queue has no export_pending(); "
        "its pending jobs were not migrated",
        "queue 'q': the old backend does not implement export_pending(); "
        "its pending jobs were not migrated",
        "queue 'q': exporting pending jobs failed, they were not migrated: OSError('export')",
        "queue 'q': replaying a consumer of group 'g' failed: ValueError('replay')",
    )
    report = settle(plan)
    assert report.lost == 1
    assert not report.success


def test_running_jobs_are_reported_first() -> None:
    """Handlers running when the old queue began to stop: one warning, before the others."""
    plan: MigrationPlan[str] = plan_migration("q", now=NOW, running=2, errors=[ExportMissing()])
    assert plan.warnings[0] == (
        "queue 'q': 2 job(s) were running during the switch; they finished on the old backend"
    )
    assert len(plan.warnings) == 2
    assert plan_migration("q", now=NOW, running=0).warnings == ()


def test_released_jobs_are_named_and_not_counted_as_finished() -> None:
    """Handlers cancelled once the grace period passed are named; the others finished."""
    plan: MigrationPlan[str] = plan_migration(
        "q", now=NOW, running=3, released=[("j1", "g"), ("j2", "h")], grace_period=2.5
    )
    assert plan.warnings == (
        "queue 'q': 1 job(s) were running during the switch; they finished on the old backend",
        "queue 'q': the grace period (2.5 s) passed with 2 handler(s) still running on the old "
        "backend: they were cancelled and their jobs released (not an attempt, not a failure), "
        "then moved with the pending jobs: job 'j1' in group 'g', job 'j2' in group 'h'",
    )


def test_a_failed_move_is_lost_and_named() -> None:
    """A move whose operation raised counts as lost, not migrated, and gets a warning."""
    plan = plan_migration(
        "q",
        recurring=[_interval("r", NOW)],
        pending=[_pending("j0"), _pending("j1"), _pending("j2")],
        now=NOW,
    )
    failed = [
        MoveFailed(plan.moves[0], ValueError("bad")),
        MoveFailed(plan.moves[3], RuntimeError("full")),
    ]
    report = settle(plan, failed)
    assert (report.recurring, report.pending, report.lost) == (0, 2, 2)
    assert not report.success
    assert report.warnings == (
        "queue 'q': recurring job 'r' not migrated: ValueError('bad')",
        "queue 'q': pending job 'j2' not migrated: RuntimeError('full')",
    )


def test_pending_jobs_keep_the_groups_that_owed_them() -> None:
    """A pending job owed by some groups only is enqueued for those groups."""
    owed: PendingJob[str] = attrs.evolve(_pending("j"), groups=("b",))
    plan = plan_migration(
        "q", pending=[_pending("all"), owed], subscriptions=_subscriptions("a", "b"), now=NOW
    )
    assert [op.groups for op in plan.operations if isinstance(op, EnqueuePending)] == [
        None,
        ("b",),
    ]
    assert settle(plan).warnings == ()


def test_jobs_enqueued_for_every_group_instead_are_named() -> None:
    """A new queue that cannot enqueue for named groups: the widened jobs are named."""
    plan = plan_migration("q", pending=[_pending("j")], now=NOW)
    assert settle(plan, widened=["j"]).warnings == (
        "queue 'q': 1 pending job(s) that only some groups still owed were enqueued for every "
        "group (the new backend's queue has no enqueue_for_groups); a group that had already "
        "finished one runs it again: 'j'",
    )


def test_reports_combine_in_order() -> None:
    """Summing the proxies' reports adds the counts and keeps the warnings' order."""
    total = combine_reports(
        [
            MigrationReport(recurring=1, pending=2, warnings=("a",)),
            MigrationReport(pending=3, lost=1, warnings=("b", "c")),
        ]
    )
    assert total == MigrationReport(recurring=1, pending=5, lost=1, warnings=("a", "b", "c"))
    assert not total.success
    assert combine_reports([]) == MigrationReport()


# -- the delay multiplier -----------------------------------------------------------------------


@attrs.frozen
class _Config:
    delay_multiplier: object


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (_Config(0.5), 0.5),
        (_Config(3), 3.0),
        (_Config(True), 1.0),
        (_Config(0), 1.0),
        (_Config(-2.0), 1.0),
        (_Config(math.nan), 1.0),
        (_Config(math.inf), 1.0),
        (_Config("2"), 1.0),
        (object(), 1.0),
        (None, 1.0),
    ],
)
def test_delay_multiplier_of_a_config(config: object, expected: float) -> None:
    """A finite number > 0 is the multiplier; anything else means 1.0."""
    assert delay_multiplier_of(config) == expected


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_the_planner_refuses_a_bad_multiplier(bad: float) -> None:
    """Delays cannot be divided by a multiplier that is not a finite number > 0."""
    with pytest.raises(ValueError, match="delay_multiplier"):
        plan_migration("q", pending=[_pending("j", 1.0)], now=NOW, delay_multiplier=bad)


# -- the shape of the module --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ScheduleRecurring, EnqueueOccurrence, EnqueuePending])
def test_operations_are_frozen_and_keyword_only(cls: type[Any]) -> None:
    """Fields can be added to an operation without breaking the code that builds it."""
    assert attrs.has(cls)
    assert all(field.kw_only for field in attrs.fields(cls))
    operation = plan_migration(
        "q",
        recurring=[_interval("i", NOW), _cron("c", NOW)],
        pending=[_pending("p")],
        now=NOW,
    ).operations
    instance: Any = next(op for op in operation if isinstance(op, cls))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        instance.job_id = "other"


def test_the_planner_does_no_io() -> None:
    """The planner is sans-IO: no trio, no logging, no coroutine anywhere in its module."""
    tree = ast.parse(inspect.getsource(migration))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        assert not isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor)
    assert not imported & {"trio", "anyio", "asyncio", "logging"}
