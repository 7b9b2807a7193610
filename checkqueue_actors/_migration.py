"""What a backend switch does to one queue, decided without doing it.

Sans-IO: plain functions over frozen values, no trio, no awaits, no logging.
The proxy reads the stopped old queue, calls ``plan_migration`` with what it
read (and the errors it met), performs the plan's operations on the new queue,
and hands the failures back to ``settle``, which gives the counts and warnings
of the switch. Every rule of a migration lives here:

- an interval schedule keeps its next occurrence at the recorded
  ``next_run_at`` (at once if that already passed): its ``start_delay`` is the
  time left, divided by the new backend's ``delay_multiplier``, which the new
  queue multiplies back in;
- a cron schedule is declared again with its pattern and timezone; it picks
  its next wall-clock time after now, so an occurrence that fell due during the
  switch is enqueued at once, with the id the old backend would have given it
  (``policy.occurrence_id``), so it runs once however many queues carry it;
- a pending job keeps its id, data, priority, timeout and headers, and its
  remaining delay (divided by the ``delay_multiplier``); its attempts start again
  at 0; it goes
  only to the groups that still owed it (``PendingJob.groups``), so a group
  that had already finished it does not run it again;
- what could not be moved is named in a warning and counted as lost.

The operations are keyword-only frozen attrs classes, so a field with a default
(headers of a job, the groups that still owe it, ...) can be added without
touching the code that builds or reads the others. A new kind of operation is a
new class in ``Operation``; type checkers then point at every ``match`` over
operations that does not handle it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, TypeVar

import attrs

from ._protocols import Handler
from ._state.policy import occurrence_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._model import PendingJob, RecurringJobDetails

__all__ = [
    "FAILED_COUNT_MAX",
    "ConsumerReplayFailed",
    "PauseNotCarried",
    "EnqueueOccurrence",
    "EnqueuePending",
    "ExportFailed",
    "ExportMissing",
    "ExportNotImplemented",
    "GraceNotSupported",
    "JobKind",
    "MigrationPlan",
    "MigrationReport",
    "Move",
    "MoveFailed",
    "Operation",
    "OldQueueStopFailed",
    "RecurringDetailsFailed",
    "RecurringListFailed",
    "ScheduleRecurring",
    "Subscription",
    "SwitchError",
    "combine_reports",
    "delay_multiplier_of",
    "plan_migration",
    "settle",
]

T = TypeVar("T")


# -- what the proxy knows ---------------------------------------------------------------------


@attrs.frozen
class Subscription(Generic[T]):
    """One ``consume`` call on a proxy, kept to be replayed on every new queue."""

    handler: Handler[T]
    consumer_group: str
    max_retries: int
    timeout: float | None = None
    """The group's delivery timeout given to ``consume`` (``None``: none)."""


def delay_multiplier_of(config: object) -> float:
    """The ``delay_multiplier`` of a backend config, 1.0 when it has no usable one.

    Anything but a finite number > 0 (a bool included) counts as having none.
    """
    value: object = getattr(config, "delay_multiplier", None)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return float(value)
    return 1.0


# -- errors met before planning ---------------------------------------------------------------


@attrs.frozen
class OldQueueStopFailed:
    """Stopping the old queue raised (the switch goes on with what it can read)."""

    error: Exception


@attrs.frozen
class GraceNotSupported:
    """The old queue's ``stop()`` takes no ``grace_period``: the switch waited for its
    handlers however long they ran."""

    grace_period: float


@attrs.frozen
class RecurringListFailed:
    """``list_recurring_jobs`` of the old queue raised: no recurring job is known."""

    error: Exception


@attrs.frozen
class RecurringDetailsFailed:
    """``get_recurring_job_details`` raised for one job, which is lost."""

    job_id: str
    error: Exception


@attrs.frozen
class ExportMissing:
    """The old queue has no ``export_pending`` method: its pending jobs stay behind."""


@attrs.frozen
class ExportNotImplemented:
    """The old queue's ``export_pending`` raised ``NotImplementedError``."""


@attrs.frozen
class ExportFailed:
    """The old queue's ``export_pending`` raised: its pending jobs stay behind."""

    error: Exception


@attrs.frozen
class ConsumerReplayFailed:
    """Registering a recorded consumer on the new queue raised."""

    consumer_group: str
    error: Exception


@attrs.frozen
class PauseNotCarried:
    """Reading the old queue's pause state, or pausing the new queue, raised."""

    error: Exception


SwitchError: TypeAlias = (
    OldQueueStopFailed
    | GraceNotSupported
    | RecurringListFailed
    | RecurringDetailsFailed
    | ExportMissing
    | ExportNotImplemented
    | ExportFailed
    | ConsumerReplayFailed
    | PauseNotCarried
)
"""An error a switch met on the old queue, or while replaying consumers, before planning."""


# -- operations on the new queue --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ScheduleRecurring(Generic[T]):
    """Declare a recurring job on the new queue (``schedule_recurring`` with these arguments)."""

    job_id: str
    data: T
    priority: int
    interval_seconds: float | None = None
    cron_pattern: str | None = None
    timezone: str | None = None
    start_delay: float | None = None
    """Seconds as the new queue counts them (already divided by its ``delay_multiplier``)."""


@attrs.frozen(kw_only=True)
class EnqueueOccurrence(Generic[T]):
    """Enqueue the occurrence of a cron job that fell due during the switch, at once."""

    recurring_job_id: str
    job_id: str
    """The occurrence's id, ``policy.occurrence_id(recurring_job_id, due_at)``."""
    data: T
    priority: int
    due_at: datetime
    """The wall time the occurrence was due."""


@attrs.frozen(kw_only=True)
class EnqueuePending(Generic[T]):
    """Enqueue a job that was pending on the old queue, under its own id."""

    job_id: str
    data: T
    priority: int
    start_delay: float | None = None
    """Seconds as the new queue counts them; ``None`` when the job is ready now."""
    groups: tuple[str, ...] | None = None
    """The groups that still owed the job (``enqueue_for_groups``); ``None``: every group
    (a plain ``enqueue``)."""
    timeout: float | None = None
    """The job's own delivery timeout (``None``: none)."""
    headers: Mapping[str, str] = attrs.field(factory=dict[str, str])
    """The job's headers (empty: none)."""


Operation: TypeAlias = ScheduleRecurring[T] | EnqueueOccurrence[T] | EnqueuePending[T]
"""One call to make on the new queue."""


class JobKind(enum.Enum):
    """What a move carries, as named in warnings and counted in the switch's result."""

    RECURRING = "recurring"
    PENDING = "pending"


@attrs.frozen(kw_only=True)
class Move(Generic[T]):
    """Carrying one job to the new queue: its operations, performed in order.

    The first operation that fails abandons the rest, and the job counts as lost.
    """

    kind: JobKind
    job_id: str
    operations: tuple[Operation[T], ...]


@attrs.frozen(kw_only=True)
class MigrationPlan(Generic[T]):
    """What to do to the new queue of one proxy, and what is already known to be wrong."""

    queue_name: str
    moves: tuple[Move[T], ...]
    """In the order to perform them: recurring jobs first, then pending jobs."""
    warnings: tuple[str, ...]
    """Warnings known before any operation runs (running jobs, errors met reading)."""
    lost: int
    """Jobs already lost before any operation runs (details that could not be read)."""
    consumer_groups: frozenset[str]
    """The groups the new queue will have (from the subscriptions)."""

    @property
    def operations(self) -> tuple[Operation[T], ...]:
        """Every operation of every move, in order."""
        return tuple(op for move in self.moves for op in move.operations)


@attrs.frozen
class MoveFailed(Generic[T]):
    """One move of a plan could not be completed: ``error`` is what its operation raised."""

    move: Move[T]
    error: Exception


@attrs.frozen(kw_only=True)
class MigrationReport:
    """What a switch moved, lost and has to say (for one proxy, or summed)."""

    recurring: int = 0
    """Recurring jobs declared on the new queue."""
    pending: int = 0
    """Pending jobs enqueued on the new queue."""
    lost: int = 0
    """Jobs that could not be moved."""
    warnings: tuple[str, ...] = ()

    @property
    def success(self) -> bool:
        """True when no job was lost."""
        return self.lost == 0


# -- planning ---------------------------------------------------------------------------------


def _label(queue_name: str) -> str:
    return f"queue {queue_name!r}"


def _warning_of(error: SwitchError, label: str) -> str:
    match error:
        case OldQueueStopFailed(exc):
            return f"{label}: stopping the old queue failed: {exc!r}"
        case GraceNotSupported(grace):
            return (
                f"{label}: the old backend's stop() takes no grace period, so the switch "
                f"waited for its running handlers beyond the {_seconds(grace)} asked for"
            )
        case RecurringListFailed(exc):
            return f"{label}: cannot list recurring jobs: {exc!r}"
        case RecurringDetailsFailed(job_id, exc):
            return (
                f"{label}: recurring job {job_id!r} not migrated: cannot read its details: {exc!r}"
            )
        case ExportMissing():
            return (
                f"{label}: the old backend's queue has no export_pending(); "
                "its pending jobs were not migrated"
            )
        case ExportNotImplemented():
            return (
                f"{label}: the old backend does not implement export_pending(); "
                "its pending jobs were not migrated"
            )
        case ExportFailed(exc):
            return f"{label}: exporting pending jobs failed, they were not migrated: {exc!r}"
        case ConsumerReplayFailed(group, exc):
            return f"{label}: replaying a consumer of group {group!r} failed: {exc!r}"
        case PauseNotCarried(exc):
            return (
                f"{label}: the pause state was not carried over (the new queue runs every "
                f"group): {exc!r}"
            )


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _released_warning(
    label: str, released: Sequence[tuple[str, str]], grace_period: float | None
) -> str:
    grace = f" ({_seconds(grace_period)})" if grace_period is not None else ""
    names = ", ".join(f"job {job_id!r} in group {group!r}" for job_id, group in released)
    return (
        f"{label}: the grace period{grace} passed with {len(released)} handler(s) still "
        "running on the old backend: they were cancelled and their jobs released (not an "
        f"attempt, not a failure), then moved with the pending jobs: {names}"
    )


FAILED_COUNT_MAX: Final = 10_000
"""The most failed-jobs entries a switch counts on the old queue (it says "at least")."""


def _failed_warning(label: str, failed_left: int) -> str:
    count = f"at least {failed_left}" if failed_left >= FAILED_COUNT_MAX else str(failed_left)
    return (
        f"{label}: the old backend's failed-jobs record ({count} entries) was not moved: "
        "it stays with the old backend (a Redis record stays in Redis; an in-memory one "
        "is gone with the old queue)"
    )


def _running_warning(label: str, running: int) -> str:
    return (
        f"{label}: {running} job(s) were running during the switch; "
        "they finished on the old backend"
    )


def _recurring_move(
    details: RecurringJobDetails[T], now: datetime, delay_multiplier: float
) -> Move[T]:
    next_run_at = details.next_run_at
    operations: list[Operation[T]] = []
    if details.interval_seconds is not None:
        # The first occurrence on the new backend is at the recorded next_run_at (never
        # early; at once if it already passed). The new queue multiplies start_delay by
        # its delay_multiplier, so divide it out.
        remaining = 0.0 if next_run_at is None else (next_run_at - now).total_seconds()
        operations.append(
            ScheduleRecurring(
                job_id=details.job_id,
                data=details.data,
                priority=details.priority,
                interval_seconds=details.interval_seconds,
                start_delay=max(0.0, remaining) / delay_multiplier,
            )
        )
    else:
        # A cron schedule picks its next wall-clock time after now, which is the recorded
        # next_run_at while that is still ahead; one due during the switch fires at once.
        # Details from a backend without the timezone field mean UTC.
        timezone: str | None = getattr(details, "timezone", None)
        operations.append(
            ScheduleRecurring(
                job_id=details.job_id,
                data=details.data,
                priority=details.priority,
                cron_pattern=details.cron_pattern,
                timezone=timezone,
            )
        )
        if next_run_at is not None and next_run_at <= now:
            operations.append(
                EnqueueOccurrence(
                    recurring_job_id=details.job_id,
                    job_id=occurrence_id(details.job_id, next_run_at),
                    data=details.data,
                    priority=details.priority,
                    due_at=next_run_at,
                )
            )
    return Move(kind=JobKind.RECURRING, job_id=details.job_id, operations=tuple(operations))


def _pending_move(job: PendingJob[T], delay_multiplier: float) -> Move[T]:
    delay = job.remaining_delay / delay_multiplier if job.remaining_delay > 0 else None
    return Move(
        kind=JobKind.PENDING,
        job_id=job.id,
        operations=(
            EnqueuePending(
                job_id=job.id,
                data=job.data,
                priority=job.priority,
                start_delay=delay,
                groups=job.groups,
                timeout=job.timeout,
                headers=job.headers,
            ),
        ),
    )


def plan_migration(
    queue_name: str,
    *,
    recurring: Sequence[RecurringJobDetails[T]] = (),
    pending: Sequence[PendingJob[T]] = (),
    subscriptions: Sequence[Subscription[Any]] = (),
    now: datetime,
    delay_multiplier: float = 1.0,
    running: int = 0,
    released: Sequence[tuple[str, str]] = (),
    grace_period: float | None = None,
    errors: Sequence[SwitchError] = (),
    failed_left: int = 0,
) -> MigrationPlan[T]:
    """Plan moving one queue's jobs from its stopped old queue to its new queue.

    Args:
      queue_name: The queue's name (warnings name it).
      recurring: The recurring job details read from the old queue.
      pending: The pending jobs exported from the old queue, in its order.
      subscriptions: The consumers the new queue has (replayed before the plan runs).
      now: The wall time (UTC-aware) the delays and due occurrences are measured from.
      delay_multiplier: The new backend's ``delay_multiplier`` (see ``delay_multiplier_of``).
      running: Handlers the old queue was running when it began to stop.
      released: ``(job id, group)`` of the deliveries whose handlers were cancelled
        because the switch's grace period passed (their jobs are among ``pending``).
      grace_period: The switch's grace period in seconds (``None``: none).
      errors: The errors met before planning, in the order they were met.
      failed_left: Entries of the old queue's failed-jobs record (counted up to
        ``FAILED_COUNT_MAX``): the record does not move with a switch, so any are named
        in a warning.
    Returns:
      The moves (every recurring job, then every pending job, each in the order
      given), the warnings already known and the jobs already lost.
    Raises:
      ValueError: for a ``delay_multiplier`` that is not a finite number > 0.
    """
    if not (math.isfinite(delay_multiplier) and delay_multiplier > 0):
        msg = f"delay_multiplier must be a finite number > 0, not {delay_multiplier!r}"
        raise ValueError(msg)
    label = _label(queue_name)
    warnings: list[str] = []
    finished = running - len(released)
    if finished > 0:
        warnings.append(_running_warning(label, finished))
    if released:
        warnings.append(_released_warning(label, released, grace_period))
    warnings.extend(_warning_of(error, label) for error in errors)
    if failed_left > 0:
        warnings.append(_failed_warning(label, failed_left))
    lost = sum(1 for error in errors if isinstance(error, RecurringDetailsFailed))
    moves = [_recurring_move(details, now, delay_multiplier) for details in recurring]
    moves.extend(_pending_move(job, delay_multiplier) for job in pending)
    return MigrationPlan(
        queue_name=queue_name,
        moves=tuple(moves),
        warnings=tuple(warnings),
        lost=lost,
        consumer_groups=frozenset(sub.consumer_group for sub in subscriptions),
    )


def _count(moves: Iterable[Move[Any]], kind: JobKind) -> int:
    return sum(1 for move in moves if move.kind is kind)


def settle(
    plan: MigrationPlan[Any],
    failed: Sequence[MoveFailed[Any]] = (),
    widened: Sequence[str] = (),
) -> MigrationReport:
    """The outcome of a plan once performed, given the moves that failed.

    Args:
      plan: The plan that was performed.
      failed: Its moves that failed, with the error each raised, in plan order.
      widened: The ids of pending jobs owed by some groups only that were enqueued
        for every group, because the new queue cannot enqueue for named groups.
    Returns:
      The counts of jobs moved and lost, and the warnings: the plan's own, one per
      failed move, and one naming the widened jobs (a group that had finished one
      runs it again).
    """
    label = _label(plan.queue_name)
    recurring = _count(plan.moves, JobKind.RECURRING) - _count(
        [failure.move for failure in failed], JobKind.RECURRING
    )
    pending = _count(plan.moves, JobKind.PENDING) - _count(
        [failure.move for failure in failed], JobKind.PENDING
    )
    warnings = list(plan.warnings)
    warnings.extend(
        f"{label}: {failure.move.kind.value} job {failure.move.job_id!r} not migrated: "
        f"{failure.error!r}"
        for failure in failed
    )
    if widened:
        names = ", ".join(repr(job_id) for job_id in widened)
        warnings.append(
            f"{label}: {len(widened)} pending job(s) that only some groups still owed were "
            "enqueued for every group (the new backend's queue has no enqueue_for_groups); "
            f"a group that had already finished one runs it again: {names}"
        )
    return MigrationReport(
        recurring=recurring,
        pending=pending,
        lost=plan.lost + len(failed),
        warnings=tuple(warnings),
    )


def combine_reports(reports: Iterable[MigrationReport]) -> MigrationReport:
    """The reports of several proxies summed, their warnings in the order given."""
    recurring = pending = lost = 0
    warnings: list[str] = []
    for report in reports:
        recurring += report.recurring
        pending += report.pending
        lost += report.lost
        warnings.extend(report.warnings)
    return MigrationReport(
        recurring=recurring, pending=pending, lost=lost, warnings=tuple(warnings)
    )
