"""Every rule a queue follows, written once, for every backend.

Sans-IO: plain functions over plain values, no trio, no storage. The in-memory
engine calls them directly; the Redis storage calls them in Python and passes
the results to its Lua scripts as arguments (so each script stays one atomic
step that stores a decision, never a second copy of the rule); the runtime and
the manager call them too. ``tests/state/test_policy_agreement.py`` drives the
same random operations through the in-memory engine and the Redis scripts and
checks that both follow these rules alike.

The rules:

- **Admission**: what a call may ask for (``check_*``), and when a queue is full.
- **Ordering**: the key ready jobs are delivered by.
- **Retries**: whether a failed delivery is retried, and after how long.
- **Recurring jobs**: occurrence ids and the next tick of interval and cron schedules.
- **Round-robin**: which consumer of a group gets the next delivery.
- **Chaining**: how many deliveries a worker runs back to back before it yields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .cron import CronSchedule

__all__ = [
    "CHAIN_MAX",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "RoundRobin",
    "check_consume_args",
    "check_delay",
    "check_enqueue_args",
    "check_enqueue_many_args",
    "check_job_id",
    "check_priority",
    "check_recurring_args",
    "next_cron_tick",
    "next_grid_tick",
    "occurrence_id",
    "queue_full",
    "queue_full_message",
    "ready_key",
    "retry_delay",
    "scaled",
    "should_retry",
]

T = TypeVar("T")

# -- admission ------------------------------------------------------------------------------

PRIORITY_MIN: Final = -(2**31)
"""The lowest priority a job may have (a 32-bit signed integer, in every backend)."""
PRIORITY_MAX: Final = 2**31 - 1
"""The highest priority a job may have."""


def check_delay(name: str, value: object) -> float:
    """A finite, non-negative number of seconds (``None`` means 0).

    Raises:
      ValueError: for anything else (a bool included).
    """
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a finite number of seconds >= 0, not {value!r}"
        raise ValueError(msg)
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        msg = f"{name} must be a finite number of seconds >= 0, not {value!r}"
        raise ValueError(msg)
    return seconds


def check_priority(priority: object) -> int:
    """An int in ``PRIORITY_MIN .. PRIORITY_MAX``, so a job can move between backends.

    Raises:
      ValueError: for a bool, a non-int or an int out of range (a ValueError even for a
        wrong type, as ``enqueue`` promises).
    """
    if type(priority) is not int:
        msg = f"priority must be an int, not {priority!r}"
        raise ValueError(msg)
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        msg = f"priority must lie in {PRIORITY_MIN} .. {PRIORITY_MAX}, not {priority!r}"
        raise ValueError(msg)
    return priority


def check_job_id(job_id: object, *, required: bool = False) -> str | None:
    """``None`` (when not required) or a non-empty str.

    Raises:
      ValueError: for anything else.
    """
    if job_id is None and not required:
        return None
    if not isinstance(job_id, str) or not job_id:
        msg = f"job_id must be a non-empty str, not {job_id!r}"
        raise ValueError(msg)
    return job_id


def check_enqueue_args(
    priority: object, start_delay: object, job_id: object
) -> tuple[int, float, str | None]:
    """Validated ``(priority, delay_seconds, job_id)`` of an enqueue call."""
    return check_priority(priority), check_delay("start_delay", start_delay), check_job_id(job_id)


def check_enqueue_many_args(
    items: Iterable[T], priority: object, start_delay: object, job_ids: Iterable[object] | None
) -> tuple[list[T], int, float, list[str | None]]:
    """Validated ``(payloads, priority, delay_seconds, job_ids)`` of an ``enqueue_many`` call.

    Raises:
      ValueError: for a bad priority, delay or id, or ``job_ids`` of another length.
    """
    datas = list(items)
    checked_priority, delay, _ = check_enqueue_args(priority, start_delay, None)
    if job_ids is None:
        return datas, checked_priority, delay, [None] * len(datas)
    ids = [check_job_id(job_id) for job_id in job_ids]
    if len(ids) != len(datas):
        msg = f"job_ids has {len(ids)} entries for {len(datas)} items"
        raise ValueError(msg)
    return datas, checked_priority, delay, ids


def check_recurring_args(
    job_id: object,
    interval_seconds: object,
    cron_pattern: object,
    start_delay: object,
    priority: object,
    timezone: object,
) -> tuple[str, float | None, str | None, float, int, str | None]:
    """Validated arguments of ``schedule_recurring`` (the cron pattern is parsed apart).

    Returns:
      ``(job_id, interval_seconds, cron_pattern, start_delay, priority, timezone)``.
    Raises:
      ValueError: unless exactly one of ``interval_seconds`` (finite, > 0) and
        ``cron_pattern`` (a str) is given, or for a bad id, delay, priority or timezone.
    """
    checked_id = check_job_id(job_id, required=True)
    assert checked_id is not None
    if (interval_seconds is None) == (cron_pattern is None):
        msg = "give exactly one of interval_seconds and cron_pattern"
        raise ValueError(msg)
    interval: float | None = None
    if interval_seconds is not None:
        if isinstance(interval_seconds, int | float) and not isinstance(interval_seconds, bool):
            try:
                interval = float(interval_seconds)
            except OverflowError:
                interval = math.inf
        if interval is None or not math.isfinite(interval) or interval <= 0:
            msg = f"interval_seconds must be a finite number > 0, not {interval_seconds!r}"
            raise ValueError(msg)
    if cron_pattern is not None and not isinstance(cron_pattern, str):
        msg = f"cron_pattern must be a str, not {cron_pattern!r}"
        raise ValueError(msg)
    if timezone is not None and not isinstance(timezone, str):
        msg = f"timezone must be an IANA timezone name, not {timezone!r}"
        raise ValueError(msg)
    return (
        checked_id,
        interval,
        cron_pattern,
        check_delay("start_delay", start_delay),
        check_priority(priority),
        timezone,
    )


def check_consume_args(handler: object, consumer_group: object, max_retries: object) -> None:
    """Check a consumer registration.

    Raises:
      ValueError: for a handler that is not callable, an empty or non-str group, or a
        ``max_retries`` that is not an int >= 0.
    """
    if not callable(handler):
        msg = f"handler must be an async callable, not {handler!r}"
        raise ValueError(msg)
    if not isinstance(consumer_group, str) or not consumer_group:
        msg = f"consumer_group must be a non-empty str, not {consumer_group!r}"
        raise ValueError(msg)
    if type(max_retries) is not int or max_retries < 0:
        msg = f"max_retries must be an int >= 0, not {max_retries!r}"
        raise ValueError(msg)


def queue_full(pending: int, new: int, max_queue_size: int) -> bool:
    """True when ``new`` more pending jobs would not fit beside ``pending`` ones."""
    return pending + new > max_queue_size


def queue_full_message(name: str, pending: int, new: int, max_queue_size: int) -> str:
    """The message of the ``QueueFullError`` that ``queue_full`` calls for."""
    if new <= 1:
        return f"queue {name!r} is full: {pending} jobs pending (max_queue_size={max_queue_size})"
    return (
        f"queue {name!r} is full: {pending} jobs pending, {new} more do not fit "
        f"(max_queue_size={max_queue_size})"
    )


def scaled(seconds: float, delay_multiplier: float) -> float:
    """A contract duration (start delay, backoff, interval) as the queue waits it."""
    return seconds * delay_multiplier


# -- ordering -------------------------------------------------------------------------------


def ready_key(priority: int, available_at: float, seq: int) -> tuple[int, float, int]:
    """The order ready jobs are delivered in, smallest first.

    Higher priority first; within a priority, the moment the job became available
    (its enqueue, the end of its start delay, or the end of its retry backoff), then
    enqueue order (``seq``, increasing per queue).
    """
    return (-priority, available_at, seq)


# -- retries --------------------------------------------------------------------------------


def should_retry(attempts: int, max_retries: int) -> bool:
    """Whether a delivery that failed after ``attempts`` earlier retries is retried."""
    return attempts < max_retries


def retry_delay(attempt: int, delay_multiplier: float) -> float:
    """Seconds a group waits before retry number ``attempt`` (1, 2, ...): ``2 ** attempt``."""
    return 2.0**attempt * delay_multiplier


# -- recurring jobs -------------------------------------------------------------------------


def occurrence_id(job_id: str, wall: datetime) -> str:
    """The id of the occurrence of recurring job ``job_id`` due at ``wall``.

    The same tick gives the same id in every process and every backend, so an
    occurrence is enqueued once however many queues declared the schedule.
    """
    return f"{job_id}:{wall.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


def next_grid_tick(base: float, step: float, now: float) -> float:
    """The first tick of the grid ``base + k * step`` (k >= 0) strictly after ``now``.

    An interval schedule fires on a fixed grid whatever its runs take; ticks missed
    (a busy or sleeping host) are coalesced into the one that fires now. Works on
    float seconds and on integer milliseconds alike (exactly, for integers).
    """
    if now < base:
        return base
    nxt = base + (math.floor((now - base) / step) + 1) * step
    if nxt <= now:  # float rounding at an exact multiple
        nxt += step
    return nxt


def next_cron_tick(cron: CronSchedule, due: datetime, now: datetime) -> datetime:
    """The cron time that follows the tick due at ``due``, fired at ``now``.

    The first cron time after both: a host that slept through several cron times
    fires once on waking, then keeps to the pattern.
    """
    return cron.next_after(max(due, now))


# -- round-robin ----------------------------------------------------------------------------


class RoundRobin(Generic[T]):
    """The consumers of one group in registration order, handed out in rotation."""

    __slots__ = ("_cursor", "members")

    def __init__(self) -> None:
        self.members: list[T] = []
        self._cursor = 0

    def __len__(self) -> int:
        return len(self.members)

    def add(self, member: T) -> None:
        """A new consumer joins the rotation (after the last one)."""
        self.members.append(member)

    def next(self) -> T:
        """The consumer whose turn it is; the turn passes to the following one."""
        members = self.members
        cursor = self._cursor
        if cursor >= len(members):
            cursor = 0
        self._cursor = cursor + 1
        return members[cursor]

    def peek(self) -> T:
        """The consumer whose turn it is, without passing the turn."""
        members = self.members
        return members[self._cursor if self._cursor < len(members) else 0]

    def snapshot(self) -> Sequence[T]:
        """The members, in rotation order starting with the one whose turn it is."""
        members = self.members
        cursor = self._cursor if self._cursor < len(members) else 0
        return members[cursor:] + members[:cursor]


# -- chaining -------------------------------------------------------------------------------

CHAIN_MAX: Final = 16
"""Deliveries a worker runs back to back before it checks in with trio's scheduler, so
handlers that never await cannot starve the other tasks."""
