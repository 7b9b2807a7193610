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

import functools
import inspect
import math
import os
import threading
import types
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar, cast

from .._model import JOB_STATES, NO_HEADERS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .._model import JobState
    from .cron import CronSchedule

__all__ = [
    "CHAIN_MAX",
    "DELAY_MAX",
    "HEADERS_BYTES_MAX",
    "HEADERS_MAX",
    "HEADER_NAME_MAX",
    "INTERVAL_MIN",
    "JOB_ID_MAX",
    "NAME_MAX",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "RECURRING_ID_MAX",
    "RETRIES_MAX",
    "ArgumentTypeError",
    "RoundRobin",
    "check_consume_args",
    "check_delay",
    "check_enqueue_args",
    "check_enqueue_many_args",
    "check_handler",
    "check_headers",
    "check_interval",
    "check_job_id",
    "check_job_options",
    "check_max_retries",
    "check_name",
    "check_priority",
    "check_recurring_args",
    "check_recurring_id",
    "check_timeout",
    "next_cron_tick",
    "next_grid_tick",
    "occurrence_id",
    "new_job_id",
    "queue_full",
    "queue_full_message",
    "ready_key",
    "retry_delay",
    "scaled",
    "should_retry",
    "shown",
]

T = TypeVar("T")

# -- admission ------------------------------------------------------------------------------

PRIORITY_MIN: Final = -(2**31)
"""The lowest priority a job may have (a 32-bit signed integer, in every backend)."""
PRIORITY_MAX: Final = 2**31 - 1
"""The highest priority a job may have."""
DELAY_MAX: Final = 100 * 365.25 * 86_400.0
"""The longest delay or interval, in seconds: 100 years (a larger one is a mistake)."""
INTERVAL_MIN: Final = 0.001
"""The shortest ``interval_seconds`` of a recurring job: 1 ms."""
RETRIES_MAX: Final = 10_000
"""The most retries a consumer group may ask for."""
NAME_MAX: Final = 200
"""The longest queue name, consumer group name or Redis ``key_prefix``, in characters."""
JOB_ID_MAX: Final = 1024
"""The longest job id, in characters."""
OCCURRENCE_SUFFIX: Final = len(":2000-01-01T00:00:00.000000Z")
"""Characters ``occurrence_id`` adds to a recurring job's id (28)."""
RECURRING_ID_MAX: Final = JOB_ID_MAX - OCCURRENCE_SUFFIX
"""The longest recurring job id (996), so that each of its occurrence ids is a valid job id."""
HEADERS_MAX: Final = 64
"""The most headers one job may carry."""
HEADER_NAME_MAX: Final = 200
"""The longest header name, in characters (the naming rules of ``check_name``)."""
HEADERS_BYTES_MAX: Final = 16 * 1024
"""The most bytes (UTF-8) one job's header names and values may hold together."""
_REPR_MAX: Final = 60
"""Characters of a bad value shown in an error message at most."""


def shown(value: object) -> str:
    """``repr(value)`` cut to a few dozen characters, for error messages.

    A rejected 400-digit priority or a megabyte-long name must not flood a log line.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_REPR_MAX:
        # repr of a huge int is slow and may exceed sys.get_int_max_str_digits()
        return f"<an int of about {int(abs(value).bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    if len(text) > _REPR_MAX:
        return f"{text[: _REPR_MAX - 15]}... ({len(text)} chars)"
    return text


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type.

    A ``TypeError``, and also a ``ValueError``: the queue methods have always
    promised ``ValueError`` for a bad argument, so code catching that keeps working.
    """


_ENTROPY_BLOCK: Final = 4096
"""Bytes of ``os.urandom`` read at once for fresh job ids (256 ids a read)."""


class _Entropy(threading.local):
    """This thread's block of ``os.urandom`` bytes and how much of it is used. Per
    thread, so that two threads never take the same bytes; a forked child starts with
    none (its parent may use the rest)."""

    block: bytes = b""
    at: int = 0


_entropy = _Entropy()


def _forget_entropy() -> None:
    _entropy.block = b""
    _entropy.at = 0


if hasattr(os, "register_at_fork"):  # not on Windows (which has no fork)
    os.register_at_fork(after_in_child=_forget_entropy)

_VARIANT: Final = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""A hex digit with its two top bits set to the RFC 4122 variant (``10``)."""


def new_job_id(urandom: Callable[[int], bytes] | None = None) -> str:
    """A fresh job id: a random (version 4) UUID in its standard string form.

    The same string as ``str(uuid.uuid4())`` (16 bytes from ``os.urandom``, the
    version and variant bits set), built without a ``UUID`` object and from
    ``os.urandom`` read 4 KiB at a time (per thread, never reused, reset in a forked
    child): about a third of the cost, paid by every enqueue without a ``job_id``.
    ``urandom`` (for tests) is called for the 16 bytes instead.
    """
    if urandom is None:
        entropy = _entropy
        block = entropy.block
        at = entropy.at
        if at >= len(block):
            block = entropy.block = os.urandom(_ENTROPY_BLOCK)
            at = 0
        entropy.at = at + 16
        h = block[at : at + 16].hex()
    else:
        h = urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _type_message(name: str, expected: str, value: object) -> str:
    return f"{name} must be {expected}, not {shown(value)}"


def check_name(what: str, value: object, *, max_chars: int = NAME_MAX) -> str:
    """A name the queue uses as (part of) a storage key: a queue name, a consumer group,
    a job id, a recurring job id or a Redis ``key_prefix``.

    The same rules in every backend, so that a job (and its ids) can always move
    between them: a non-empty ``str`` of at most ``max_chars`` characters that can
    be encoded as UTF-8 (no lone surrogates) and holds no control character
    (Unicode category ``Cc``: ``\\x00``-``\\x1f``, ``\\x7f``-``\\x9f``; names end up in
    log lines, where a newline would forge one).

    Raises:
      ArgumentTypeError: for a non-str (a ``TypeError`` and a ``ValueError``).
      ValueError: for a str breaking a rule.
    """
    if not isinstance(value, str):
        msg = _type_message(what, "a non-empty str", value)
        raise ArgumentTypeError(msg)
    if not value:
        msg = f"{what} must be a non-empty str"
        raise ValueError(msg)
    if len(value) > max_chars:
        msg = f"{what} has {len(value)} characters; at most {max_chars} are allowed"
        raise ValueError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        position = exc.start
    else:
        position = -1
    if position >= 0:
        msg = (
            f"{what} must be encodable as UTF-8; character {position} is the lone "
            f"surrogate {value[position]!r}"
        )
        raise ValueError(msg)
    for index, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            msg = (
                f"{what} must not contain control characters; character {index} is {char!r} "
                f"(in {shown(value)})"
            )
            raise ValueError(msg)
    return value


def _seconds(name: str, value: object, expected: str) -> float:
    """A finite float of an int or float (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = _type_message(name, expected, value)
        raise ArgumentTypeError(msg)
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float: out of range, whatever the range
        seconds = 2 * DELAY_MAX if value > 0 else -2 * DELAY_MAX
    if not math.isfinite(seconds):
        msg = f"{name} must be {expected}, not {shown(value)}"
        raise ValueError(msg)
    return seconds


def check_delay(name: str, value: object) -> float:
    """A number of seconds in ``0 .. DELAY_MAX`` (100 years); ``None`` means 0.

    Raises:
      ArgumentTypeError: for a non-number (a bool included).
      ValueError: for a negative, non-finite or too long delay.
    """
    if value is None:
        return 0.0
    expected = "a finite number of seconds >= 0"
    seconds = _seconds(name, value, expected)
    if seconds < 0:
        msg = f"{name} must be {expected}, not {shown(value)}"
        raise ValueError(msg)
    if seconds > DELAY_MAX:
        msg = f"{name} must be at most {DELAY_MAX:.0f} seconds (100 years), not {shown(value)}"
        raise ValueError(msg)
    return seconds


def check_interval(value: object) -> float:
    """A recurring job's ``interval_seconds``: ``INTERVAL_MIN`` (1 ms) .. ``DELAY_MAX``.

    Raises:
      ArgumentTypeError: for a non-number (a bool included).
      ValueError: for a non-finite, too short or too long interval.
    """
    expected = "a finite number of seconds > 0"
    seconds = _seconds("interval_seconds", value, expected)
    if seconds <= 0:
        msg = f"interval_seconds must be {expected}, not {shown(value)}"
        raise ValueError(msg)
    if seconds < INTERVAL_MIN:
        msg = f"interval_seconds must be at least {INTERVAL_MIN} (1 ms), not {shown(value)}"
        raise ValueError(msg)
    if seconds > DELAY_MAX:
        msg = (
            f"interval_seconds must be at most {DELAY_MAX:.0f} seconds (100 years), "
            f"not {shown(value)}"
        )
        raise ValueError(msg)
    return seconds


def check_priority(priority: object) -> int:
    """An int in ``PRIORITY_MIN .. PRIORITY_MAX``, so a job can move between backends.

    Raises:
      ArgumentTypeError: for a non-int, a bool or a float included (a ``TypeError``
        and a ``ValueError``).
      ValueError: for an int out of range.
    """
    if type(priority) is not int:
        msg = _type_message("priority", "an int", priority)
        raise ArgumentTypeError(msg)
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        msg = f"priority must lie in {PRIORITY_MIN} .. {PRIORITY_MAX}, not {shown(priority)}"
        raise ValueError(msg)
    return priority


LIST_LIMIT_MAX: Final = 10_000
"""The most jobs one ``list_jobs`` call returns."""


def check_job_state(state: object) -> JobState | None:
    """``None`` or one of the job states (``JOB_STATES``) ``list_jobs`` filters by.

    Raises:
      ArgumentTypeError: for a non-str.
      ValueError: for another str.
    """
    if state is None:
        return None
    if not isinstance(state, str):
        raise ArgumentTypeError(_type_message("state", "a str or None", state))
    if state not in JOB_STATES:
        choices = ", ".join(repr(s) for s in JOB_STATES)
        msg = f"state must be one of {choices} or None, not {shown(state)}"
        raise ValueError(msg)
    return state


def check_list_limit(limit: object) -> int:
    """A ``list_jobs`` limit: an int in ``1 .. LIST_LIMIT_MAX``.

    Raises:
      ArgumentTypeError: for a non-int (``bool`` included).
      ValueError: out of range.
    """
    if type(limit) is not int:
        raise ArgumentTypeError(_type_message("limit", f"an int in 1..{LIST_LIMIT_MAX}", limit))
    if not 1 <= limit <= LIST_LIMIT_MAX:
        msg = f"limit must be an int in 1..{LIST_LIMIT_MAX}, not {shown(limit)}"
        raise ValueError(msg)
    return limit


def check_job_id(job_id: object, *, required: bool = False) -> str | None:
    """``None`` (when not required) or a valid job id (see ``check_name``; at most
    ``JOB_ID_MAX`` characters).

    Raises:
      ArgumentTypeError: for a non-str.
      ValueError: for a str breaking a rule of ``check_name``.
    """
    if job_id is None and not required:
        return None
    return check_name("job_id", job_id, max_chars=JOB_ID_MAX)


def check_recurring_id(job_id: object) -> str:
    """A recurring job's id (see ``check_name``; at most ``RECURRING_ID_MAX`` characters,
    so that its occurrence ids are valid job ids).

    Raises:
      ArgumentTypeError: for a non-str.
      ValueError: for a str breaking a rule of ``check_name``.
    """
    return check_name("job_id", job_id, max_chars=RECURRING_ID_MAX)


def check_max_retries(max_retries: object) -> int:
    """An int in ``0 .. RETRIES_MAX``.

    Raises:
      ArgumentTypeError: for a non-int (a bool included).
      ValueError: for an int out of range.
    """
    if type(max_retries) is not int:
        msg = _type_message("max_retries", "an int >= 0", max_retries)
        raise ArgumentTypeError(msg)
    if not 0 <= max_retries <= RETRIES_MAX:
        msg = f"max_retries must lie in 0 .. {RETRIES_MAX}, not {shown(max_retries)}"
        raise ValueError(msg)
    return max_retries


def check_handler(handler: object) -> None:
    """A handler is an async callable: calling it must give an awaitable.

    Accepted: ``async def`` functions and methods, ``functools.partial`` of them,
    functions whose ``__wrapped__`` chain (``functools.wraps``) leads to one, and any
    other callable object (one with an ``async def __call__``, or one that returns
    an awaitable; its calls are not checked here). Refused: what is not callable, and
    plain ``def`` functions, lambdas, builtins and async generator functions, whose
    every delivery would fail.

    Raises:
      ArgumentTypeError: for a refused handler (a ``TypeError`` and a ``ValueError``).
    """
    if not callable(handler):
        msg = _type_message("handler", "an async callable", handler)
        raise ArgumentTypeError(msg)
    target: object = handler
    while isinstance(target, functools.partial):
        target = cast("functools.partial[object]", target).func
    if inspect.iscoroutinefunction(target):
        return
    if isinstance(target, types.MethodType):
        target = target.__func__
    if isinstance(target, types.FunctionType | types.BuiltinFunctionType | types.MethodWrapperType):
        if inspect.iscoroutinefunction(inspect.unwrap(target)):
            return
        kind = (
            "an async generator function"
            if inspect.isasyncgenfunction(target)
            else "a plain function"
        )
        msg = (
            f"handler must be an async callable (an 'async def' function), not {kind}: "
            f"{shown(handler)}; every delivery would fail"
        )
        raise ArgumentTypeError(msg)


def check_timeout(timeout: object) -> float | None:
    """``None`` (no timeout of its own) or a delivery timeout: a finite number of seconds
    ``> 0`` and at most ``DELAY_MAX``. Not scaled by ``delay_multiplier``.

    Raises:
      ArgumentTypeError: for a non-number (a bool included).
      ValueError: for a zero, negative, non-finite or over 100-year timeout.
    """
    if timeout is None:
        return None
    expected = "a finite number of seconds > 0"
    seconds = _seconds("timeout", timeout, expected)
    if seconds <= 0:
        msg = f"timeout must be {expected}, not {shown(timeout)}"
        raise ValueError(msg)
    if seconds > DELAY_MAX:
        msg = f"timeout must be at most {DELAY_MAX:.0f} seconds (100 years), not {shown(timeout)}"
        raise ValueError(msg)
    return seconds


def check_headers(headers: object) -> Mapping[str, str]:
    """A job's headers, copied into a read-only mapping (``NO_HEADERS`` for ``None`` or
    an empty mapping).

    Rules, the same in every backend: a ``Mapping`` of at most ``HEADERS_MAX`` (64)
    entries; each name follows the naming rules of ids (``check_name``: a non-empty
    ``str`` of at most ``HEADER_NAME_MAX`` characters, UTF-8 encodable, no control
    character); each value is a ``str`` encodable as UTF-8 (it may be empty); names
    and values together hold at most ``HEADERS_BYTES_MAX`` (16 KiB) of UTF-8.

    Raises:
      ArgumentTypeError: for a non-mapping, a non-str name or value.
      ValueError: for a name breaking a rule, a value that cannot be encoded, or
        headers over a bound.
    """
    if headers is None:
        return NO_HEADERS
    if not isinstance(headers, Mapping):
        msg = _type_message("headers", "a mapping of str to str", headers)
        raise ArgumentTypeError(msg)
    items = cast("Mapping[object, object]", headers)
    if len(items) > HEADERS_MAX:
        msg = f"headers has {len(items)} entries; at most {HEADERS_MAX} are allowed"
        raise ValueError(msg)
    checked: dict[str, str] = {}
    size = 0
    for name, value in items.items():
        key = check_name("a header name", name, max_chars=HEADER_NAME_MAX)
        if not isinstance(value, str):
            msg = _type_message(f"header {shown(key)}", "a str", value)
            raise ArgumentTypeError(msg)
        try:
            size += len(key.encode("utf-8")) + len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            msg = f"header {shown(key)} must be encodable as UTF-8 ({exc.reason})"
            raise ValueError(msg) from None
        checked[key] = value
    if size > HEADERS_BYTES_MAX:
        msg = f"headers hold {size} bytes; at most {HEADERS_BYTES_MAX} are allowed"
        raise ValueError(msg)
    return types.MappingProxyType(checked) if checked else NO_HEADERS


def check_job_options(timeout: object, headers: object) -> tuple[float | None, Mapping[str, str]]:
    """Validated ``(timeout, headers)`` of an enqueue call (see ``check_timeout`` and
    ``check_headers``)."""
    return check_timeout(timeout), check_headers(headers)


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
      ValueError: unless exactly one of ``interval_seconds`` (1 ms .. 100 years) and
        ``cron_pattern`` (a str) is given, or for a bad id, delay, priority or
        timezone (an ``ArgumentTypeError``, also a ``TypeError``, for a wrong type).
    """
    checked_id = check_recurring_id(job_id)
    if (interval_seconds is None) == (cron_pattern is None):
        msg = "give exactly one of interval_seconds and cron_pattern"
        raise ValueError(msg)
    interval = check_interval(interval_seconds) if interval_seconds is not None else None
    if cron_pattern is not None:
        check_name("cron_pattern", cron_pattern, max_chars=NAME_MAX)
    if timezone is not None:
        check_name("timezone", timezone, max_chars=NAME_MAX)
    return (
        checked_id,
        interval,
        cast("str | None", cron_pattern),
        check_delay("start_delay", start_delay),
        check_priority(priority),
        cast("str | None", timezone),
    )


def check_consume_args(
    handler: object, consumer_group: object, max_retries: object, timeout: object = None
) -> float | None:
    """Check a consumer registration; returns its checked ``timeout`` (``check_timeout``).

    Raises:
      ArgumentTypeError: (a ``TypeError`` and a ``ValueError``) for a handler that is
        not an async callable (see ``check_handler``), a non-str group or a non-int
        ``max_retries``.
      ValueError: for a group name breaking a rule of ``check_name``, or a
        ``max_retries`` outside ``0 .. RETRIES_MAX``, or a bad ``timeout``.
    """
    check_handler(handler)
    check_name("consumer_group", consumer_group)
    check_max_retries(max_retries)
    return check_timeout(timeout)


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
    """A duration as the caller gave it (start delay, backoff, interval), as the queue waits it."""
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
    """Seconds a group waits before retry number ``attempt`` (1, 2, ...): ``2 ** attempt``,
    at most ``DELAY_MAX`` (100 years, reached at attempt 32; no float overflow however
    many retries a group allows)."""
    return min(2.0 ** min(attempt, 64), DELAY_MAX) * delay_multiplier


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
