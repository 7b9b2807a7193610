"""The in-memory queue's state machine: synchronous, pure, O(log n) per operation.

Everything the in-memory storage knows lives here, and nothing here awaits,
logs or calls back: each method changes the state and *returns what happened*
(stored or not, the groups that got ready work, the occurrences skipped), and
the caller (``_backends/memory.py``) decides whom to wake. Each call runs
between two trio checkpoints, so it is atomic. Times are trio-clock floats
passed in by the caller; the rules (backoff, grids, occurrence ids, the ready
key) come from ``policy``.

Layout:
- ``JobRecord``: one job while any group still owes it work. The dedup index
  maps ``job_id -> JobRecord`` and drops the entry when the last group is done,
  so per-job state is freed as soon as every group has finished.
- ``GroupState``: one consumer group: its ``ReadySet`` keyed by
  ``(-priority, available_at, enqueue_seq)`` (priority, then the moment the job
  became available, then enqueue order; O(1) pops for in-order arrivals), the
  attempts of jobs it is retrying.
- one timer heap of ``(due, seq, kind, ...)``: initial delays, per-group retry
  backoff and recurring ticks. Stale entries (dropped jobs, replaced schedules)
  are skipped when they surface and compacted away when they pile up.
- ``failed_record``: the bounded failed-jobs record (``failed.FailedRecord``),
  filled by ``fail`` and emptied by ``retry_failed`` and ``drop_failed``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .._errors import QueueFullError
from .._model import (
    JOB_TYPE,
    NO_HEADERS,
    FailedJob,
    PendingJob,
    QueueJob,
    QueueStats,
    RecurringJobDetails,
    new_job_object,
    new_queue_job,
    set_job_attempts,
    set_job_data,
    set_job_headers,
    set_job_id,
    set_job_priority,
    set_job_timestamp,
)
from .._storage import Delivery
from . import policy
from .cron import CronSchedule
from .failed import (
    RETRY_DONE,
    RETRY_NO_ENTRY,
    RETRY_NO_GROUP,
    FailedRecord,
    error_text,
    split_error,
)
from .policy import queue_full
from .ready import ReadySet

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._storage import ScheduleSpec

__all__ = [
    "GroupState",
    "JobRecord",
    "MemoryDelivery",
    "QueueEngine",
    "Schedule",
    "WallMapping",
]

_DELAY = 0
_RETRY = 1
_TICK = 2

_COMPACT_MIN = 64


class WallMapping(Protocol):
    """Maps trio time to wall time and back (``_clock.WallClock`` in production)."""

    def to_wall(self, trio_time: float) -> datetime: ...
    def to_trio(self, wall: datetime) -> float: ...


@attrs.define(eq=False, slots=True)
class JobRecord:
    """One job while at least one group still owes it work."""

    id: str
    data: Any
    priority: int
    timestamp: datetime
    seq: int
    """Enqueue order; the last part of every ready key of this job."""
    available_at: float
    """When the initial delay ends (the enqueue time for an immediate job)."""
    groups: tuple[GroupState, ...] | None
    """The groups that owe it work (a tuple shared by every job enqueued while the same
    groups existed); None while no group exists yet (an orphan)."""
    waiting: int = 0
    """Groups for which it waits (ready, delayed or in backoff); >0 means pending."""
    remaining: int = 0
    """Groups not done with it (waiting plus running)."""
    delayed: bool = False
    """True until the initial delay has passed."""
    claims: int = 0
    """Deliveries claimed and not given back: >0 once any group has started it."""

    @property
    def started(self) -> bool:
        """True once a group has run (or is running) it; a delivery given back unrun
        (released at stop) does not count."""
        return self.claims > 0

    dropped: bool = False
    """Removed (a replaced or cancelled recurring occurrence, or exported)."""
    reserved: tuple[str, ...] = ()
    """Groups that owe it work but do not exist yet (a job moved from another backend
    for named groups): each takes it when it is created."""
    schedule: Schedule | None = None
    """The recurring schedule that produced this occurrence."""
    timeout: float | None = None
    """Seconds one delivery may run (``None``: none of its own)."""
    headers: Mapping[str, str] = NO_HEADERS
    """The job's headers (read-only)."""
    done: tuple[str, ...] = ()
    """Names of the groups done with it while others still owe it (a job of one group
    never needs it)."""
    job: QueueJob[Any] | None = None
    """Its first delivery's ``QueueJob`` (attempts 0), once built for an instrument at
    enqueue (``queued_job``) or for the first of several groups: the deliveries with
    attempts 0 reuse it."""


@attrs.define(eq=False, slots=True)
class GroupState:
    """One consumer group."""

    name: str
    max_retries: int
    ready: ReadySet[JobRecord] = attrs.field(factory=ReadySet["JobRecord"])
    retrying: dict[str, tuple[int, float]] = attrs.field(factory=dict[str, tuple[int, float]])
    """job id -> (attempts made, due) for jobs waiting out a retry backoff."""
    attempts: dict[str, int] = attrs.field(factory=dict[str, int])
    """job id -> retries already made, for jobs back in ``ready`` after a failure."""
    since: dict[str, float] = attrs.field(factory=dict[str, float])
    """job id -> when it became ready again, for jobs back in ``ready`` after a retry's
    backoff (others became ready at their record's ``available_at``)."""
    running: dict[str, MemoryDelivery] = attrs.field(factory=dict[str, "MemoryDelivery"])
    """job id -> its delivery, for jobs claimed and not settled yet."""
    errors: dict[str, str] = attrs.field(factory=dict[str, str])
    """job id -> the error of its last failed delivery, while the group owes the job."""
    completed: int = 0
    failed: int = 0

    @property
    def ready_live(self) -> int:
        """Jobs waiting in this group's ready set."""
        return self.ready.live

    def has_ready(self) -> bool:
        """True when a job waits in this group's ready set."""
        return self.ready.live > 0


ReadyEntry = tuple[int, float, int, JobRecord]
"""What ``ReadySet.pop`` returns: ``(neg_priority, available_at, seq, record)``."""


class MemoryDelivery(Delivery):
    """A delivery of the in-memory engine: the runtime's fields plus the engine's handle."""

    __slots__ = ("key", "record", "state", "timeout")

    def __init__(self, entry: ReadyEntry, state: GroupState, attempts: int) -> None:
        # this runs once per delivery: only what every delivery needs is set
        record = entry[3]
        self.group = state.name
        job = record.job
        if job is None or attempts:
            # new_queue_job, inline (a call's frame is about 3% of a drained job's time)
            job = new_job_object(JOB_TYPE)
            set_job_id(job, record.id)
            set_job_data(job, record.data)
            set_job_priority(job, record.priority)
            set_job_timestamp(job, record.timestamp)
            set_job_attempts(job, attempts)
            set_job_headers(job, record.headers)
            if not attempts and record.remaining > 1:
                record.job = job  # other groups' first deliveries share it (fan-out)
        self.job = job
        self.timeout = record.timeout
        self.record = record
        self.state = state
        self.key = entry
        """Its ready-set entry when claimed, ``(neg_priority, available_at, seq,
        record)``: a release puts it back under the same key."""

    @property
    def attempts(self) -> int:
        """Retries this group already made of the job."""
        job = self.job
        assert job is not None
        return job.attempts

    @property
    def max_retries(self) -> int:  # type: ignore[override]  # a property over the base's default
        """The group's ``max_retries``."""
        return self.state.max_retries


@attrs.define(eq=False, slots=True)
class Schedule:
    """A recurring job."""

    job_id: str
    data: Any
    priority: int
    interval_seconds: float | None
    cron: CronSchedule | None
    step: float
    """Seconds between interval ticks (0 for cron)."""
    base: float
    """Trio time of tick 0 of an interval grid."""
    next_due: float
    """Trio time of the next tick."""
    next_wall: datetime | None = None
    """Wall time of the next cron tick (kept across re-anchoring)."""
    generation: int = 0
    occurrences: set[str] = attrs.field(factory=set[str])
    """Ids of this schedule's occurrences still in the queue."""
    cancelled: bool = False

    @property
    def cron_pattern(self) -> str | None:
        """The cron pattern, or None for an interval schedule."""
        return self.cron.pattern if self.cron is not None else None

    @property
    def timezone(self) -> str | None:
        """The cron timezone (None means UTC)."""
        return self.cron.timezone if self.cron is not None else None


def _not_running(group: GroupState, delivery: MemoryDelivery) -> None:
    """``delivery`` is settled: it leaves its group's running deliveries (a newer job
    with the same id, enqueued after a cancel, may run there already: it stays)."""
    record_id = delivery.record.id
    running = group.running
    current = running.pop(record_id, None)
    if current is not delivery and current is not None:
        running[record_id] = current


def _forget_marks(group: GroupState, job_id: str) -> None:
    """The group owes the job nothing any more: its per-job marks go."""
    if group.attempts:
        group.attempts.pop(job_id, None)
        group.since.pop(job_id, None)
    if group.errors:
        group.errors.pop(job_id, None)


class QueueEngine:
    """All state of one in-memory queue (see the module docstring)."""

    def __init__(
        self, *, name: str, max_queue_size: int, clock: WallMapping, max_failed_jobs: int = 1000
    ) -> None:
        self.name = name
        self.max_queue_size = max_queue_size
        self.clock = clock
        self._seq = 0
        self._index: dict[str, JobRecord] = {}
        self._orphan_ready: ReadySet[JobRecord] = ReadySet()
        """The orphans (jobs enqueued while no group exists: ``groups`` is None) that
        are ready (not delayed), in claim order: the first group takes this set over
        as its own. The others wait on their timers; every orphan is in ``_index``."""
        self._reserved: dict[str, dict[str, JobRecord]] = {}
        """group name -> the jobs kept for that group until it is created."""
        self._groups: dict[str, GroupState] = {}
        self._group_tuple: tuple[GroupState, ...] | None = None
        self._timers: list[tuple[float, int, int, Any, Any]] = []
        self._timers_dead = 0
        self._schedules: dict[str, Schedule] = {}
        self.pending = 0
        self.running = 0
        self.completed = 0
        self.failed = 0
        self.failed_record = FailedRecord(max_failed_jobs)
        """The newest ``max_failed_jobs`` deliveries that failed for good."""
        self.paused_queue = False
        """The whole queue is paused: no group is claimed from."""
        self.paused_groups: set[str] = set()
        """Groups paused on their own."""
        self._paused = False
        """Either of the above (one test on the claim paths)."""

    # -- bookkeeping helpers ------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _add_waiting(self, record: JobRecord) -> None:
        if record.waiting == 0:
            self.pending += 1
        record.waiting += 1

    def _sub_waiting(self, record: JobRecord) -> None:
        record.waiting -= 1
        if record.waiting == 0:
            self.pending -= 1

    def _push_timer(self, due: float, kind: int, a: Any, b: Any = None) -> None:
        heapq.heappush(self._timers, (due, self._next_seq(), kind, a, b))

    def _finish(self, record: JobRecord, group: GroupState) -> None:
        """``group`` is done with the record."""
        record.remaining -= 1
        if record.remaining == 0:
            if not record.dropped:
                self._forget(record)
        else:
            record.done = (*record.done, group.name)
        if group.errors:
            group.errors.pop(record.id, None)

    def _forget(self, record: JobRecord) -> None:
        """The queue is done with the record (``ack`` runs these lines inline)."""
        job_id = record.id
        index = self._index
        other = index.pop(job_id, record)  # one dict operation in the common case
        if other is not record:
            index[job_id] = other  # a newer job with this id: it stays
        elif not index:
            # a dict never shrinks when keys are deleted: once the queue is empty,
            # start a new one so a drained backlog gives its table back
            self._index = {}
        if record.schedule is not None:
            record.schedule.occurrences.discard(job_id)

    # -- enqueue ------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The live record of ``job_id``, if the job is still in the queue."""
        return self._index.get(job_id)

    def queued_job(self, job_id: str) -> QueueJob[Any] | None:
        """The ``QueueJob`` of a job just stored (attempts 0), built once: its first
        deliveries reuse it."""
        record = self._index.get(job_id)
        if record is None:
            return None
        job = record.job
        if job is None:
            job = record.job = new_queue_job(
                record.id, record.data, record.priority, record.timestamp, 0, record.headers
            )
        return job

    def records(self) -> Iterable[JobRecord]:
        """Every job in the queue, in enqueue order."""
        return self._index.values()

    def orphans(self) -> Iterable[JobRecord]:
        """Jobs waiting for the first group, in enqueue order."""
        if self._group_tuple is not None:
            return ()  # a group exists: no job waits for the first one
        return [record for record in self._index.values() if record.groups is None]

    @property
    def has_groups(self) -> bool:
        """True once a group exists (a job enqueued now is ready for every group)."""
        return self._group_tuple is not None

    def enqueue(
        self,
        *,
        job_id: str,
        data: Any,
        priority: int,
        delay: float,
        now: float,
        timestamp: datetime,
        schedule: Schedule | None = None,
        only: tuple[str, ...] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> bool:
        """Store a job; False when ``job_id`` is already in the queue (nothing changes).

        A job enqueued with no delay while groups exist is ready at once in every
        group; with a delay, it waits on a timer (``next_deadline`` may move earlier).
        With ``only`` (a non-empty tuple of group names), the job is for those groups
        alone; one that does not exist yet takes it when it is created. ``timeout`` and
        ``headers`` are kept with the job, for each of its deliveries and its export.

        Raises:
          QueueFullError: when ``max_queue_size`` jobs are pending (nothing is stored).
        """
        if job_id in self._index:
            return False
        if queue_full(self.pending, 1, self.max_queue_size):
            raise QueueFullError(
                policy.queue_full_message(self.name, self.pending, 1, self.max_queue_size)
            )
        groups = self._group_tuple
        reserved: tuple[str, ...] = ()
        if only is not None:
            known = self._groups
            groups = tuple(known[name] for name in only if name in known)
            reserved = tuple(name for name in only if name not in known)
        available_at = now + delay
        self._seq = seq = self._seq + 1  # _next_seq, inline: once per job
        count = (len(groups) if groups is not None else 1) + len(reserved)
        # positional, in the fields' order (test_enqueue_fills_each_field_of_the_record
        # checks it): an attrs class called with keywords costs about 900 ns here, with
        # positions 330 (once per job)
        record = JobRecord(
            job_id,
            data,
            priority,
            timestamp,
            seq,
            available_at,
            groups,
            count,  # waiting
            count,  # remaining
            delay > 0,  # delayed
            0,  # claims
            False,  # dropped
            (),  # reserved
            schedule,
            timeout,
            headers,
        )
        self._index[job_id] = record
        if schedule is not None:
            schedule.occurrences.add(job_id)
        if reserved:
            record.reserved = reserved
            for name in reserved:
                self._reserved.setdefault(name, {})[job_id] = record
        self.pending += 1
        if record.delayed:
            self._push_timer(available_at, _DELAY, record)
        elif groups is None:
            self._orphan_ready.push(-priority, available_at, seq, record)
        else:
            neg_priority = -priority
            for group in groups:
                group.ready.push(neg_priority, available_at, seq, record)
        return True

    def new_ids(self, job_ids: Iterable[str]) -> set[str]:
        """The ids among ``job_ids`` that are not in the queue."""
        index = self._index
        return {job_id for job_id in job_ids if job_id not in index}

    def check_room(self, new: int) -> None:
        """Raise ``QueueFullError`` unless ``new`` more jobs fit (for all-or-nothing batches)."""
        if policy.queue_full(self.pending, new, self.max_queue_size):
            raise QueueFullError(
                policy.queue_full_message(self.name, self.pending, new, self.max_queue_size)
            )

    # -- groups -------------------------------------------------------------------------------

    def add_group(self, group_name: str, max_retries: int) -> bool:
        """Create a group, or give an existing one its latest ``max_retries``.

        The first group ever takes the jobs enqueued while none existed.

        Returns:
          True when the group now has ready work it did not have (adopted jobs).
        """
        group = self._groups.get(group_name)
        if group is not None:
            group.max_retries = max_retries
            return False
        group = GroupState(name=group_name, max_retries=max_retries)
        first = not self._groups
        self._groups[group_name] = group
        self._group_tuple = tuple(self._groups.values())
        if first:
            # the orphans become the group's: the ready ones are already in claim order
            # (the set is taken over whole), the delayed ones join when their timer fires
            group.ready = self._orphan_ready
            self._orphan_ready = ReadySet()
            only = self._group_tuple
            for record in self._index.values():
                if record.groups is None:
                    record.groups = only
        kept = self._reserved.pop(group_name, None)
        if kept:
            for record in kept.values():
                if record.dropped or record.groups is None:
                    continue
                record.groups = (*record.groups, group)
                record.reserved = tuple(name for name in record.reserved if name != group_name)
                if not record.delayed:
                    group.ready.push(-record.priority, record.available_at, record.seq, record)
        return group.has_ready()

    @property
    def groups(self) -> Iterable[GroupState]:
        """Every group."""
        return self._groups.values()

    def group(self, group_name: str) -> GroupState | None:
        """The group of that name, if it exists."""
        return self._groups.get(group_name)

    # -- dispatch -----------------------------------------------------------------------------

    def claim(self, group_name: str, n: int) -> list[MemoryDelivery]:
        """Take up to ``n`` of the group's best ready jobs; they are running from now on."""
        group = self._groups[group_name]
        if self._paused and self.is_paused(group_name):
            return []
        ready = group.ready
        running = group.running
        out: list[MemoryDelivery] = []
        while len(out) < n:
            entry = ready.pop()
            if entry is None:
                break
            record = entry[3]
            self._sub_waiting(record)
            record.claims += 1
            self.running += 1
            attempts = 0
            if group.attempts:
                attempts = group.attempts.pop(record.id, 0)
                group.since.pop(record.id, None)
            delivery = MemoryDelivery(entry, group, attempts)
            running[record.id] = delivery
            out.append(delivery)
        return out

    def claim_one(self, group_name: str) -> MemoryDelivery | None:
        """``claim`` of one job, without a list (a worker chaining jobs)."""
        group = self._groups[group_name]
        if self._paused and self.is_paused(group_name):
            return None
        entry = group.ready.pop()
        if entry is None:
            return None
        record = entry[3]
        record.waiting -= 1  # _sub_waiting, inline: once per delivery
        if record.waiting == 0:
            self.pending -= 1
        record.claims += 1
        self.running += 1
        attempts = 0
        if group.attempts:
            attempts = group.attempts.pop(record.id, 0)
            group.since.pop(record.id, None)
        delivery = MemoryDelivery(entry, group, attempts)
        group.running[record.id] = delivery
        return delivery

    # -- pausing ------------------------------------------------------------------------------

    def is_paused(self, group_name: str | None) -> bool:
        """True when ``group_name`` is claimed from no more (None: the whole queue is paused)."""
        return self.paused_queue or (group_name is not None and group_name in self.paused_groups)

    def set_paused(self, group_name: str | None, paused: bool) -> None:
        """Pause or resume a group, or the whole queue (resuming it resumes every group)."""
        if group_name is None:
            self.paused_queue = paused
            if not paused:
                self.paused_groups.clear()
        elif paused:
            self.paused_groups.add(group_name)
        else:
            self.paused_groups.discard(group_name)
        self._paused = self.paused_queue or bool(self.paused_groups)

    def ack(self, delivery: MemoryDelivery) -> None:
        """The delivery's handler succeeded."""
        self.running -= 1
        group = delivery.state
        record = delivery.record
        job_id = record.id
        running = group.running
        current = running.pop(job_id, None)
        if current is not delivery and current is not None:
            running[job_id] = current  # a newer job with this id runs: it stays
        group.completed += 1
        self.completed += 1
        record.remaining -= 1
        if record.remaining == 0:
            if not record.dropped:
                # _forget's lines, inline (once per job: a call's frame costs more)
                index = self._index
                other = index.pop(job_id, record)
                if other is not record:
                    index[job_id] = other
                elif not index:
                    self._index = {}
                if record.schedule is not None:
                    record.schedule.occurrences.discard(job_id)
        else:
            record.done = (*record.done, group.name)
        if group.errors:
            group.errors.pop(record.id, None)

    def retry(
        self, delivery: MemoryDelivery, now: float, delay: float, error: str | None = None
    ) -> float | None:
        """The delivery failed (with ``error``) and its group retries it after ``delay`` seconds.

        Returns:
          When the retry is due; None when the job was dropped meanwhile (a cancelled
          recurring occurrence), which then ends for this group without a failure.
        """
        self.running -= 1
        record, group = delivery.record, delivery.state
        _not_running(group, delivery)
        if record.dropped:
            self._finish(record, group)
            return None
        if error is not None:
            group.errors[record.id] = error
        due = now + delay
        group.retrying[record.id] = (delivery.attempts + 1, due)
        self._add_waiting(record)
        self._push_timer(due, _RETRY, record, group)
        return due

    def fail(self, delivery: MemoryDelivery, error: str, now: float) -> None:
        """The delivery failed for good: its group is done with it, counts a failure and
        records it in ``failed_record`` (``error`` says why; ``now`` is when)."""
        self.running -= 1
        record, group = delivery.record, delivery.state
        _not_running(group, delivery)
        group.failed += 1
        self.failed += 1
        if self.failed_record.max_size:
            text, traceback = split_error(error_text(error))
            self.failed_record.add(
                FailedJob(
                    job_id=record.id,
                    consumer_group=group.name,
                    data=record.data,
                    priority=record.priority,
                    attempts=delivery.attempts,
                    error=text,
                    failed_at=self.clock.to_wall(now),
                    timestamp=record.timestamp,
                    traceback=traceback,
                ),
                record.seq,
                record.headers,
            )
        self._finish(record, group)

    def retry_failed(self, job_id: str, group_name: str, now: float) -> int:
        """Deliver a recorded failure again to its group alone, attempts from 0, and take
        its entry out of ``failed_record``.

        The job is ready at once for that group, whatever ``max_queue_size`` says (as
        the other backends do). When the job's record still lives (other groups owe
        it), the group is added back to it; when a newer job with the same id is in the
        queue and owes that group already, nothing changes.

        Returns:
          ``RETRY_DONE`` (the group has ready work now), ``RETRY_NO_ENTRY`` or
          ``RETRY_NO_GROUP`` (see ``failed``).
        """
        record_ = self.failed_record
        found = record_.get(job_id, group_name)
        if found is None:
            return RETRY_NO_ENTRY
        group = self._groups.get(group_name)
        if group is None:
            return RETRY_NO_GROUP
        entry, seq = found
        record = self._index.get(job_id)
        if record is None:
            record = JobRecord(
                id=job_id,
                data=entry.data,
                priority=entry.priority,
                timestamp=entry.timestamp or self.clock.to_wall(now),
                seq=self._next_seq(),
                available_at=now,
                groups=(group,),
            )
            self._index[job_id] = record
            self.pending += 1
            record.waiting = 1
            record.remaining = 1
        else:
            assert record.groups is not None  # a group exists: no job is an orphan
            if record.seq != seq:
                if group in record.groups or group_name in record.reserved:
                    return RETRY_NO_ENTRY  # a newer job with this id owes that group already
                record.groups = (*record.groups, group)
            record.remaining += 1
            if group_name in record.done:
                record.done = tuple(name for name in record.done if name != group_name)
            self._add_waiting(record)
        record_.remove(job_id, group_name)
        _forget_marks(group, job_id)
        if not record.delayed:
            group.ready.push(-record.priority, now, record.seq, record)
        return RETRY_DONE

    def failed_jobs(self, group_name: str | None, limit: int) -> list[FailedJob[Any]]:
        """The newest ``limit`` entries of ``failed_record`` (of one group, or every group)."""
        return self.failed_record.newest(group_name, limit)

    def drop_failed(
        self, group_name: str | None, entries: Iterable[tuple[str, str]] | None = None
    ) -> int:
        """Remove ``(job_id, group)`` ``entries``, or else every entry of ``group_name``
        (every entry for None); how many went."""
        if entries is not None:
            return sum(self.failed_record.remove(job_id, group) for job_id, group in entries)
        return self.failed_record.drop(group_name)

    def cancel_delivery(self, delivery: MemoryDelivery) -> None:
        """The delivery was cancelled (``cancel``): its group is done with the job,
        counting neither a completion nor a failure."""
        self.running -= 1
        group = delivery.state
        _not_running(group, delivery)
        self._finish(delivery.record, group)

    def cancel(self, job_id: str) -> tuple[int, list[MemoryDelivery]]:
        """Remove the job from every group in which it waits (ready, delayed, retrying,
        or kept for a group to come) and from the queue.

        Returns:
          How many groups it waited in, and its deliveries running now: each ends when
          the runtime settles it with ``cancel_delivery`` (the job is gone from the
          queue already).
        """
        record = self._index.get(job_id)
        if record is None:
            return 0, []
        running: list[MemoryDelivery] = []
        waited = 0
        if record.groups is None:
            if not record.delayed:
                self._orphan_ready.forget_one()
            waited = 1
        else:
            for group in record.groups:
                if group.name in record.done:
                    continue
                delivery = group.running.get(job_id)
                if delivery is not None and delivery.record is record:
                    running.append(delivery)
                    continue
                waited += 1
                if record.delayed:
                    pass  # not in a ready set yet; its timer is skipped when due
                elif job_id in group.retrying:
                    del group.retrying[job_id]
                else:
                    group.ready.forget_one()
                _forget_marks(group, job_id)
        for name in record.reserved:
            self._reserved.get(name, {}).pop(job_id, None)
            waited += 1
        record.dropped = True
        if record.waiting:
            self.pending -= 1
        record.waiting = 0
        record.remaining = len(running)
        if record.delayed:
            self._timers_dead += 1
        self._forget(record)
        self._maybe_compact_timers()
        return waited, running

    def release(self, delivery: MemoryDelivery) -> None:
        """Give an unstarted (or interrupted) delivery back to its group, attempts unchanged."""
        self.running -= 1
        record, group = delivery.record, delivery.state
        _not_running(group, delivery)
        record.claims -= 1
        if record.dropped:
            self._finish(record, group)
            return
        if delivery.attempts:
            group.attempts[record.id] = delivery.attempts
            group.since[record.id] = delivery.key[1]
        self._add_waiting(record)
        key = delivery.key
        group.ready.push(key[0], key[1], key[2], record)

    # -- timers -------------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """The earliest timer due (math.inf when none)."""
        return self._timers[0][0] if self._timers else math.inf

    def advance(self, now: float) -> tuple[set[str], list[tuple[str, str]]]:
        """Fire every timer due at or before ``now``.

        Returns:
          The names of the groups that got ready work, and the recurring occurrences
          skipped because the queue was full, as ``(job_id, occurrence_id)``.
        """
        timers = self._timers
        woken: set[str] = set()
        skipped: list[tuple[str, str]] = []
        while timers and timers[0][0] <= now:
            due, _seq, kind, a, b = heapq.heappop(timers)
            if kind == _DELAY:
                self._release_delayed(a, due, woken)
            elif kind == _RETRY:
                self._release_retry(a, b, due, woken)
            else:
                self._tick(a, b, now, woken, skipped)
        return woken, skipped

    def _release_delayed(self, record: JobRecord, due: float, woken: set[str]) -> None:
        if record.dropped:
            self._timers_dead = max(0, self._timers_dead - 1)
            return
        record.delayed = False
        if record.groups is None:
            # an orphan: it stays waiting for the first group, now ready
            self._orphan_ready.push(-record.priority, due, record.seq, record)
            return
        neg_priority, seq = -record.priority, record.seq
        for group in record.groups:
            group.ready.push(neg_priority, due, seq, record)
            woken.add(group.name)

    def _release_retry(
        self, record: JobRecord, group: GroupState, due: float, woken: set[str]
    ) -> None:
        if record.dropped:
            # a cancelled job: its retry entry went with it, and one of that id now is
            # a newer job's (left alone)
            return
        entry = group.retrying.pop(record.id, None)
        if entry is None:
            return
        group.attempts[record.id] = entry[0]
        group.since[record.id] = due
        group.ready.push(-record.priority, due, record.seq, record)
        woken.add(group.name)

    # -- recurring ----------------------------------------------------------------------------

    def schedule(self, spec: ScheduleSpec, now: float) -> bool:
        """Declare or replace a recurring job; False when an identical one exists.

        ``spec``'s durations are already scaled. Identical means: the same data
        (``==``), priority, interval, cron pattern and timezone.
        """
        cron = spec.cron
        old = self._schedules.get(spec.job_id)
        if old is not None:
            if (
                old.data == spec.data
                and old.priority == spec.priority
                and old.interval_seconds == spec.interval_seconds
                and old.cron_pattern == (cron.pattern if cron is not None else None)
                and old.timezone == (cron.timezone if cron is not None else None)
            ):
                return False
            self._drop_schedule(old)
        first = now + spec.first_delay
        if cron is not None:
            next_wall = cron.next_after(self.clock.to_wall(first))
            schedule = Schedule(
                job_id=spec.job_id,
                data=spec.data,
                priority=spec.priority,
                interval_seconds=None,
                cron=cron,
                step=0.0,
                base=now,
                next_due=self.clock.to_trio(next_wall),
                next_wall=next_wall,
            )
        else:
            schedule = Schedule(
                job_id=spec.job_id,
                data=spec.data,
                priority=spec.priority,
                interval_seconds=spec.interval_seconds,
                cron=None,
                step=spec.step,
                base=first,
                next_due=first,
            )
        self._schedules[spec.job_id] = schedule
        self._push_timer(schedule.next_due, _TICK, schedule, schedule.generation)
        return True

    def cancel_schedule(self, job_id: str) -> bool:
        """Cancel a recurring job; False when unknown."""
        schedule = self._schedules.get(job_id)
        if schedule is None:
            return False
        self._drop_schedule(schedule)
        return True

    def _drop_schedule(self, schedule: Schedule) -> None:
        del self._schedules[schedule.job_id]
        schedule.cancelled = True
        schedule.generation += 1
        self._timers_dead += 1
        for occurrence_id in list(schedule.occurrences):
            record = self._index.get(occurrence_id)
            if record is not None and not record.started:
                self._drop(record)
        self._maybe_compact_timers()

    def _drop(self, record: JobRecord) -> None:
        """Remove a job no group has started."""
        record.dropped = True
        if record.waiting:
            self.pending -= 1
        record.waiting = 0
        self._forget(record)
        if record.groups is None and not record.delayed:
            self._orphan_ready.forget_one()
        for name in record.reserved:
            self._reserved.get(name, {}).pop(record.id, None)
        if record.delayed:
            self._timers_dead += 1
        elif record.groups is not None:
            for group in record.groups:
                if record.id in group.retrying:
                    del group.retrying[record.id]
                else:
                    group.ready.forget_one()
                _forget_marks(group, record.id)

    def _maybe_compact_timers(self) -> None:
        if self._timers_dead > _COMPACT_MIN and self._timers_dead * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not self._timer_dead(t)]
            heapq.heapify(self._timers)
            self._timers_dead = 0

    @staticmethod
    def _timer_dead(timer: tuple[float, int, int, Any, Any]) -> bool:
        _due, _seq, kind, a, b = timer
        if kind == _TICK:
            return bool(a.cancelled or a.generation != b)
        return bool(a.dropped)

    def _tick(
        self,
        schedule: Schedule,
        generation: int,
        now: float,
        woken: set[str],
        skipped: list[tuple[str, str]],
    ) -> None:
        if schedule.cancelled or schedule.generation != generation:
            self._timers_dead = max(0, self._timers_dead - 1)
            return  # a replaced or cancelled schedule: its timer is stale
        due = schedule.next_due
        wall = schedule.next_wall if schedule.next_wall is not None else self.clock.to_wall(due)
        occurrence_id = policy.occurrence_id(schedule.job_id, wall)
        try:
            self.enqueue(
                job_id=occurrence_id,
                data=schedule.data,
                priority=schedule.priority,
                delay=0.0,
                now=now,
                timestamp=self.clock.to_wall(now),
                schedule=schedule,
            )
        except QueueFullError:
            skipped.append((schedule.job_id, occurrence_id))
        else:
            if self._group_tuple is not None:
                woken.update(group.name for group in self._group_tuple)
        if schedule.cron is not None:
            schedule.next_wall = policy.next_cron_tick(schedule.cron, wall, self.clock.to_wall(now))
            schedule.next_due = self.clock.to_trio(schedule.next_wall)
        else:
            schedule.next_due = policy.next_grid_tick(schedule.base, schedule.step, now)
        self._push_timer(schedule.next_due, _TICK, schedule, generation)

    def reanchor(self) -> None:
        """The wall clock moved against trio's clock: re-derive every cron deadline."""
        for schedule in self._schedules.values():
            if schedule.next_wall is None:
                continue
            schedule.generation += 1
            self._timers_dead += 1
            schedule.next_due = self.clock.to_trio(schedule.next_wall)
            self._push_timer(schedule.next_due, _TICK, schedule, schedule.generation)

    def schedule_ids(self) -> list[str]:
        """Ids of active recurring jobs, in declaration order."""
        return list(self._schedules)

    def schedule_details(self, job_id: str) -> RecurringJobDetails[Any] | None:
        """Details of an active recurring job."""
        schedule = self._schedules.get(job_id)
        if schedule is None:
            return None
        next_wall = (
            schedule.next_wall
            if schedule.next_wall is not None
            else self.clock.to_wall(schedule.next_due)
        )
        return RecurringJobDetails(
            job_id=schedule.job_id,
            data=schedule.data,
            priority=schedule.priority,
            interval_seconds=schedule.interval_seconds,
            cron_pattern=schedule.cron_pattern,
            next_run_at=next_wall,
            timezone=schedule.timezone,
        )

    # -- inspection and export ----------------------------------------------------------------

    def stats(self) -> QueueStats:
        """The queue's counters."""
        return QueueStats(
            pending=self.pending,
            processing=self.running,
            completed=self.completed,
            failed=self.failed,
            consumer_groups=len(self._groups),
        )

    @staticmethod
    def _owed(record: JobRecord, ready_in: Iterable[str]) -> tuple[str, ...] | None:
        """The names of the groups a pending record waits for (None: an orphan, which
        waits for whichever group comes first)."""
        if record.groups is None:
            return None
        if record.delayed:
            names = [group.name for group in record.groups]
        else:
            waiting = set(ready_in)
            names = [
                group.name
                for group in record.groups
                if group.name in waiting or record.id in group.retrying
            ]
        return (*names, *record.reserved)

    def export_pending(self, now: float) -> list[PendingJob[Any]]:
        """Take out every pending job (after stop), in dispatch order per priority."""
        records = sorted(
            (r for r in self._index.values() if r.waiting > 0 and not r.dropped),
            key=lambda r: (-r.priority, r.seq),
        )
        ready_in: dict[int, list[str]] = {}
        for group in self._groups.values():
            for record in group.ready.records():
                ready_in.setdefault(id(record), []).append(group.name)
        every = set(self._groups)
        exported: list[PendingJob[Any]] = []
        for record in records:
            owed = self._owed(record, ready_in.get(id(record), ()))
            if record.delayed:
                remaining = max(0.0, record.available_at - now)
            elif record.groups is None or id(record) in ready_in:
                remaining = 0.0
            else:
                dues = [
                    group.retrying[record.id][1]
                    for group in record.groups
                    if record.id in group.retrying
                ]
                remaining = max(0.0, min(dues) - now) if dues else 0.0
            exported.append(
                PendingJob(
                    id=record.id,
                    data=record.data,
                    priority=record.priority,
                    timestamp=record.timestamp,
                    remaining_delay=remaining,
                    headers=record.headers,
                    groups=None if owed is None or set(owed) == every else owed,
                    timeout=record.timeout,
                )
            )
        # Everything pending leaves; after stop() nothing is running, so every structure
        # that refers to a waiting job can simply be emptied.
        for record in records:
            record.dropped = True
            self._forget(record)
        for group in self._groups.values():
            group.ready.clear()
            group.retrying.clear()
            group.attempts.clear()
            group.since.clear()
            group.errors.clear()
        self._orphan_ready.clear()
        self._reserved.clear()
        self._timers = [t for t in self._timers if t[2] == _TICK]
        heapq.heapify(self._timers)
        self._timers_dead = 0
        self.pending = 0
        return exported
