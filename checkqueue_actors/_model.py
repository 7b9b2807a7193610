"""Frozen values exchanged through the public API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Generic, Literal, TypeVar

import attrs

from ._clock import utc_now

__all__ = [
    "JOB_STATES",
    "FailedJob",
    "JobGroupState",
    "JobInfo",
    "JobState",
    "Migration",
    "PendingJob",
    "QueueJob",
    "QueueStats",
    "RecurringJobDetails",
    "RecurringJobInfo",
    "SwitchResult",
]

T = TypeVar("T")

NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})
"""The headers of a job enqueued without any: one shared, read-only empty mapping
(equal to ``{}``), so that a job without headers costs no dict of its own."""


@attrs.frozen
class QueueJob(Generic[T]):
    """One delivery of a job to a handler."""

    id: str
    """The job id: a uuid4 string unless the producer gave ``job_id``."""
    data: T
    """The payload, as enqueued."""
    priority: int = 0
    """Higher runs first."""
    timestamp: datetime = attrs.field(factory=utc_now)
    """UTC-aware time of enqueue."""
    attempts: int = 0
    """Retries already made for the consumer group receiving this delivery (0 on the first run)."""
    headers: Mapping[str, str] = NO_HEADERS
    """String metadata carried with the job (``enqueue(headers=...)``), read-only; the
    same on every delivery, retries included, and across backend switches."""


QUEUE_JOB_FIELDS: Final = ("id", "data", "priority", "timestamp", "attempts", "headers")
new_job_object: Final[Callable[[type[QueueJob[Any]]], QueueJob[Any]]] = object.__new__
"""``new_job_object(JOB_TYPE)``: a ``QueueJob`` with no field set yet (``new_queue_job``)."""
JOB_TYPE: Final[type[QueueJob[Any]]] = QueueJob
set_job_id, set_job_data, set_job_priority, set_job_timestamp, set_job_attempts, set_job_headers = (
    QueueJob.__dict__[name].__set__ for name in QUEUE_JOB_FIELDS
)
"""The slots' own setters, past the frozen class's ``__setattr__``."""


def new_queue_job(
    id: str,
    data: Any,
    priority: int,
    timestamp: datetime,
    attempts: int,
    headers: Mapping[str, str],
) -> QueueJob[Any]:
    """``QueueJob(id, data, priority, timestamp, attempts, headers)``, built faster.

    The frozen class's ``__init__`` sets each field through ``object.__setattr__``
    (about 0.53 µs a job on a 2-core Xeon); this sets the slots through their
    descriptors (about 0.36 µs). The storages build one per delivery (the in-memory
    engine inlines these lines). Every field is given: no default, no factory
    (``QueueJob`` has no validator or converter to skip).
    """
    job = new_job_object(JOB_TYPE)
    set_job_id(job, id)
    set_job_data(job, data)
    set_job_priority(job, priority)
    set_job_timestamp(job, timestamp)
    set_job_attempts(job, attempts)
    set_job_headers(job, headers)
    return job


@attrs.frozen
class QueueStats:
    """A snapshot of a queue's counters (see ``Queue.get_stats``)."""

    pending: int
    """Distinct jobs still waiting (ready, delayed or in retry backoff) for at least one group."""
    processing: int
    """Handlers running now."""
    completed: int
    """Lifetime count of deliveries that succeeded (one per group)."""
    failed: int
    """Lifetime count of deliveries that exhausted their retries (one per group)."""
    consumer_groups: int
    """Groups with at least one consumer."""


@attrs.frozen
class RecurringJobDetails(Generic[T]):
    """What ``get_recurring_job_details`` knows about one recurring job."""

    job_id: str
    data: T
    priority: int
    interval_seconds: float | None
    cron_pattern: str | None
    next_run_at: datetime | None
    """UTC-aware time of the next occurrence, or ``None`` when none is planned."""
    timezone: str | None = attrs.field(default=None, eq=False)
    """IANA timezone of a cron schedule (``None`` means UTC). Added beside the other
    fields so that a backend switch can carry a cron schedule over unchanged; it takes no
    part in equality, so details compare by the other six fields."""


@attrs.frozen
class RecurringJobInfo:
    """One recurring job of one queue, as listed by the manager."""

    queue_name: str
    job_id: str
    interval_seconds: float | None
    cron_pattern: str | None
    next_run_at: datetime | None


@attrs.frozen
class SwitchResult:
    """What ``QueueManager.set_active_backend`` did."""

    success: bool
    migrated_recurring_jobs: int
    migrated_pending_jobs: int
    warnings: list[str] = attrs.field(factory=list[str])


@attrs.frozen
class PendingJob(Generic[T]):
    """A job exported from a stopped queue (``Queue.export_pending``)."""

    id: str
    data: T
    priority: int
    timestamp: datetime
    remaining_delay: float
    """Seconds until the job is available (0 when it is ready now)."""
    headers: Mapping[str, str] = attrs.field(factory=dict[str, str])
    """String metadata carried with the job."""
    groups: tuple[str, ...] | None = None
    """The groups that still owe the job; ``None`` = every group (every group the queue
    had owed it, or the queue had none yet). A backend switch enqueues the job for these
    groups only, so a group that had finished it does not run it again."""
    timeout: float | None = None
    """Seconds one delivery of the job may run (``enqueue(timeout=...)``); ``None`` when
    the job has none of its own (its group's applies)."""


@attrs.frozen
class FailedJob(Generic[T]):
    """One entry of a queue's failed-jobs record: a delivery that failed for good.

    A delivery fails for good when its handler failed once more than the group's
    ``max_retries`` allows, when the stored job could not be decoded, or (on Redis)
    when it stalled too often. The record keeps one entry per job and consumer group
    (a later failure of the same job in the same group replaces it) and only the
    newest failures of the queue (``max_failed_jobs`` on the in-memory backend,
    ``failed_jobs_max`` on Redis); read it with ``Queue.get_failed_jobs``.

    ``id`` and ``group`` are read-only aliases of ``job_id`` and ``consumer_group``
    (the names of the Redis backend's earlier ``FailedJob``, which is this class).
    """

    job_id: str
    """The job's id."""
    consumer_group: str
    """The consumer group whose delivery failed."""
    data: T
    """The payload (on Redis, the raw JSON text when it cannot be decoded)."""
    priority: int
    """The job's priority."""
    attempts: int
    """Retries made before the final failure (0: it failed on its first run)."""
    error: str
    """Why it failed: ``"ExcType: message"`` for a handler's exception (its first 4000
    characters), or the reason the job could not be run."""
    failed_at: datetime
    """UTC-aware time of the final failure."""
    timestamp: datetime | None = attrs.field(default=None, eq=False, kw_only=True)
    """UTC-aware time the job was enqueued (``None`` when unknown). Kept from the Redis
    backend's earlier ``FailedJob``; it takes no part in equality."""
    traceback: str | None = attrs.field(default=None, eq=False, kw_only=True)
    """The formatted traceback of the final failure (its last 16,000 characters) when
    the handler raised, else ``None``; it takes no part in equality."""

    @property
    def id(self) -> str:
        """The job's id (an alias of ``job_id``)."""
        return self.job_id

    @property
    def group(self) -> str:
        """The consumer group (an alias of ``consumer_group``)."""
        return self.consumer_group


JobState = Literal["waiting", "delayed", "running", "retrying", "failed"]
"""Where a job stands in one consumer group (see ``JobGroupState.state``)."""

JOB_STATES: Final[tuple[JobState, ...]] = ("waiting", "delayed", "running", "retrying", "failed")
"""Every ``JobState``; all but ``"failed"`` are the states of a job still in the queue."""


@attrs.frozen
class JobGroupState:
    """Where a job stands in one consumer group (a part of ``JobInfo``)."""

    state: JobState
    """``"waiting"``: ready, its turn comes in delivery order; ``"delayed"``: its
    ``start_delay`` has not passed; ``"running"``: a handler runs it now;
    ``"retrying"``: a delivery failed and the group's backoff has not passed;
    ``"failed"``: it failed for good in this group (it is in the failed-jobs record)."""
    attempts: int
    """Retries already made in this group (as ``QueueJob.attempts``; for a failed job,
    the retries made before the final failure)."""
    available_at: datetime | None = None
    """UTC-aware time it is (or was) available to the group when waiting, delayed or
    retrying; ``None`` otherwise."""
    last_error: str | None = None
    """``"ExcType: message"`` of the group's last failed delivery of it, if any."""
    last_traceback: str | None = attrs.field(default=None, eq=False)
    """The formatted traceback of that failure (its last 16,000 characters), when the
    handler raised; ``None`` otherwise. It takes no part in equality."""


@attrs.frozen
class JobInfo(Generic[T]):
    """A job as ``Queue.get_job`` and ``Queue.list_jobs`` show it."""

    id: str
    data: T
    """The payload (on Redis, the raw stored text when it cannot be decoded)."""
    priority: int
    timestamp: datetime
    """UTC-aware time of enqueue."""
    headers: Mapping[str, str] = NO_HEADERS
    groups: Mapping[str, JobGroupState] = attrs.field(factory=dict[str, JobGroupState])
    """The consumer groups that still owe the job, or failed it, with where it stands
    in each. Empty for a job enqueued before any group existed (it waits for the
    first group)."""


@attrs.frozen
class Migration:
    """One step of a plugin's config migration chain."""

    from_version: int
    to_version: int
    migrate: Callable[[dict[str, Any]], dict[str, Any]]
