"""Shared bookkeeping of every backend: lifetime, argument checks, waiting for start.

Backends subclass ``BaseQueue`` and implement the ``_``-prefixed template
methods (saq's ``queue/base.py`` shape): the public method validates its
arguments, waits until the queue is started, checks the lifetime state and then
calls the backend. The backend's ``_serve`` owns its actors.
"""

from __future__ import annotations

import contextvars
import enum
import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Generic, TypeVar

import trio

from ._errors import QueueStoppedError
from ._lifetime import AsyncLifetimeMixin, unwrap_single

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._model import PendingJob, QueueStats, RecurringJobDetails
    from ._protocols import Handler

__all__ = [
    "BaseQueue",
    "LifeState",
    "check_enqueue_args",
    "check_enqueue_many_args",
    "check_recurring_args",
    "current_handler_queue",
]

T = TypeVar("T")

current_handler_queue: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "checkqueue_actors_current_handler_queue", default=None
)
"""The queue whose handler the current task is running (so stop() from a handler does not
wait for itself)."""


class LifeState(enum.Enum):
    """Where a queue is in its one life."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_delay(name: str, value: object) -> float:
    """A finite, non-negative number of seconds (None means 0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a finite number of seconds >= 0, not {value!r}"
        raise ValueError(msg)
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        msg = f"{name} must be a finite number of seconds >= 0, not {value!r}"
        raise ValueError(msg)
    return seconds


def check_priority(priority: object) -> int:
    """An int priority; bool and everything else is a ValueError (CONTRACT.md, enqueue)."""
    if type(priority) is not int:
        msg = f"priority must be an int, not {priority!r}"
        raise ValueError(msg)
    return priority


def check_job_id(job_id: object, *, required: bool = False) -> str | None:
    """None (when not required) or a non-empty str."""
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
    """Validated arguments of ``schedule_recurring`` (the cron pattern is parsed by the backend)."""
    checked_id = check_job_id(job_id, required=True)
    assert checked_id is not None
    if (interval_seconds is None) == (cron_pattern is None):
        msg = "give exactly one of interval_seconds and cron_pattern"
        raise ValueError(msg)
    interval: float | None = None
    if interval_seconds is not None:
        if _is_number(interval_seconds):
            interval = float(interval_seconds)  # type: ignore[arg-type]  # _is_number checked it
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
    """Raise ValueError for a bad consumer registration."""
    if not callable(handler):
        msg = f"handler must be an async callable, not {handler!r}"
        raise ValueError(msg)
    if not isinstance(consumer_group, str) or not consumer_group:
        msg = f"consumer_group must be a non-empty str, not {consumer_group!r}"
        raise ValueError(msg)
    if type(max_retries) is not int or max_retries < 0:
        msg = f"max_retries must be an int >= 0, not {max_retries!r}"
        raise ValueError(msg)


class BaseQueue(AsyncLifetimeMixin, Generic[T]):
    """Lifetime and argument checking shared by every backend's queue."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
            msg = f"queue name must be a non-empty str, not {name!r}"
            raise ValueError(msg)
        self._name = name
        self._state = LifeState.NEW
        self._started = trio.Event()  # set once running, or once stopped without running
        self._stop_requested = trio.Event()
        self._finished = trio.Event()
        self._ran = False

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} {self._state.value}>"

    # -- lifetime ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run this queue's actors until ``stop()``.

        Use it as ``await nursery.start(queue.run)``: it returns to the caller of
        ``start`` once the queue takes calls, and finishes after ``stop()``.

        Raises:
          RuntimeError: if the queue is already running or has run before.
        """
        if self._state is LifeState.STOPPED and not self._ran:
            # stop() came before start: nothing to run
            task_status.started()
            return
        if self._state is not LifeState.NEW:
            msg = f"this {type(self).__qualname__} is already running (or has run)"
            raise RuntimeError(msg)
        self._state = LifeState.RUNNING
        self._ran = True
        try:
            await self._serve(task_status)
        except BaseExceptionGroup as group:
            exc = unwrap_single(group)
            if exc is None:
                raise
            raise exc from None
        finally:
            self._state = LifeState.STOPPED
            self._started.set()
            self._finished.set()

    def _mark_started(self, task_status: trio.TaskStatus[None]) -> None:
        """Called by ``_serve`` once calls can be taken."""
        self._started.set()
        task_status.started()

    def _mark_stopping(self) -> None:
        if self._state is LifeState.RUNNING:
            self._state = LifeState.STOPPING

    async def stop(self) -> None:
        """Stop gracefully: no new handler starts, running handlers finish, timers stop.

        Idempotent; never waits for the queue to start. Called from inside one of
        this queue's handlers it only requests the stop (waiting would deadlock).
        Jobs still pending stay in the queue.
        """
        if self._state is LifeState.NEW:
            self._state = LifeState.STOPPED
            self._stop_requested.set()
            self._started.set()
            self._finished.set()
            await trio.lowlevel.checkpoint()
            return
        self._stop_requested.set()
        if current_handler_queue.get() is self:
            await trio.lowlevel.checkpoint()
            return
        await self._finished.wait()

    async def _wait_started(self) -> None:
        if not self._started.is_set():
            await self._started.wait()

    async def _check_open(self, *, allow_stopping: bool) -> None:
        """Wait for start, then raise QueueStoppedError if the queue no longer takes this call."""
        await self._wait_started()
        state = self._state
        if state is LifeState.STOPPED or (state is LifeState.STOPPING and not allow_stopping):
            msg = f"queue {self._name!r} has been stopped"
            raise QueueStoppedError(msg)

    @abstractmethod
    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        """Run the backend's actors; call ``_mark_started`` when ready; return after stop."""

    # -- the contract's methods --------------------------------------------------------------

    @abstractmethod
    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
    ) -> str:
        """Add a job; see CONTRACT.md."""

    @abstractmethod
    async def consume(
        self, handler: Handler[T], *, consumer_group: str, max_retries: int = 3
    ) -> None:
        """Register a consumer; see CONTRACT.md."""

    @abstractmethod
    async def schedule_recurring(
        self,
        data: T,
        *,
        job_id: str,
        interval_seconds: float | None = None,
        cron_pattern: str | None = None,
        timezone: str | None = None,
        start_delay: float | None = None,
        priority: int = 0,
    ) -> str:
        """Declare a recurring job; see CONTRACT.md."""

    @abstractmethod
    async def cancel_recurring(self, job_id: str) -> None:
        """Cancel a recurring job; see CONTRACT.md."""

    @abstractmethod
    async def list_recurring_jobs(self) -> list[str]:
        """Ids of active recurring jobs."""

    @abstractmethod
    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of a recurring job."""

    @abstractmethod
    async def get_in_flight_count(self) -> int:
        """Handlers running now."""

    @abstractmethod
    async def get_stats(self) -> QueueStats:
        """Counters."""

    @abstractmethod
    async def test_connection(self) -> None:
        """Probe the backend."""

    @abstractmethod
    async def export_pending(self) -> list[PendingJob[T]]:
        """Move the pending jobs out of a stopped queue."""
