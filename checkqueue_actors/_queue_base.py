"""The life of a queue: new, running, stopping, stopped; waiting for start; stop().

``BaseQueue`` is the lifetime half of a queue (``run``, ``stop``, ``async with``);
``_actors/queue.py`` builds the runtime on it, and ``_serve`` owns the actors.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
from abc import abstractmethod
from typing import Final, Generic, TypeVar

import trio

from ._errors import QueueStoppedError
from ._lifetime import AsyncLifetimeMixin, unwrap_single
from ._state.policy import check_name

__all__ = [
    "UNSTARTED_WARNING_SECONDS",
    "BaseQueue",
    "LifeState",
    "check_grace_period",
    "current_handler_queue",
]

T = TypeVar("T")

logger = logging.getLogger("checkqueue_actors")

UNSTARTED_WARNING_SECONDS: Final = 1.0
"""A call kept waiting this long by a queue that was never started logs a warning (once
per queue): a queue nobody starts would otherwise make it wait silently forever."""

current_handler_queue: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "checkqueue_actors_current_handler_queue", default=None
)
"""The queue whose handler the current task is running (so stop() from a handler does not
wait for itself)."""


def check_grace_period(grace_period: object) -> float | None:
    """``grace_period`` as a float (``None`` kept): seconds >= 0, ``math.inf`` allowed.

    Raises:
      ValueError: for anything else (a bool, NaN, a negative number, a non-number).
    """
    if grace_period is None:
        return None
    if (
        isinstance(grace_period, bool)
        or not isinstance(grace_period, int | float)
        or math.isnan(grace_period)
        or grace_period < 0
    ):
        msg = f"grace_period must be None or a number of seconds >= 0, not {grace_period!r}"
        raise ValueError(msg)
    return float(grace_period)


class LifeState(enum.Enum):
    """Where a queue is in its one life."""

    NEW = "new"
    STARTING = "starting"
    """``run`` was called; calls wait until the queue takes them (then ``RUNNING``)."""
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class BaseQueue(AsyncLifetimeMixin, Generic[T]):
    """Lifetime and argument checking shared by every backend's queue."""

    def __init__(self, name: str) -> None:
        """
        Raises:
          ValueError: for a name breaking the rules of ``policy.check_name`` (a
            ``TypeError`` too for a non-str).
        """
        self._name = check_name("queue name", name)
        self._state = LifeState.NEW
        self._started = trio.Event()  # set once running, or once stopped without running
        self._stop_requested = trio.Event()
        self._finished = trio.Event()
        self._ran = False
        self._warned_unstarted = False
        self._grace_deadline = math.inf
        """When running handlers are cancelled at stop (trio time; inf: never)."""

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
          RuntimeError: if the queue is running, or has run and stopped (a queue runs
            once).
        """
        if self._state is LifeState.STOPPED and not self._ran:
            # stop() came before start: nothing to run
            task_status.started()
            return
        refusal = self._start_refusal()
        if refusal is not None:
            raise RuntimeError(refusal)
        self._state = LifeState.STARTING
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

    def _start_refusal(self) -> str | None:
        """Why this queue cannot be started now (``None`` when it can)."""
        state = self._state
        if state is LifeState.NEW or (state is LifeState.STOPPED and not self._ran):
            return None
        what = f"{type(self).__qualname__} {self._name!r}"
        if state is LifeState.RUNNING or state is LifeState.STARTING:
            return f"{what} is already running: it cannot be started a second time"
        return (
            f"{what} has been stopped: a queue runs once and cannot be started again; "
            f"create a new {type(self).__qualname__} (pending jobs of a durable backend "
            "are still there)"
        )

    def _mark_started(self, task_status: trio.TaskStatus[None]) -> None:
        """Called by ``_serve`` once calls can be taken."""
        if self._state is LifeState.STARTING:
            self._state = LifeState.RUNNING
        self._started.set()
        task_status.started()

    def _mark_stopping(self) -> None:
        if self._state is LifeState.RUNNING or self._state is LifeState.STARTING:
            self._state = LifeState.STOPPING

    async def stop(self, *, grace_period: float | None = None) -> None:
        """Stop gracefully: no new handler starts, running handlers finish, timers stop.

        Idempotent; never waits for the queue to start. Called from inside one of
        this queue's handlers it only requests the stop (waiting would deadlock).
        Jobs still pending stay in the queue.

        Args:
          grace_period: ``None`` (the default) lets running handlers take as long as
            they need. A number of seconds >= 0: once it has passed, the handlers still
            running are cancelled (``trio.Cancelled`` inside them) and their deliveries
            released: ready again at once for their group, attempts unchanged, neither
            an attempt nor a failure (a durable backend offers them again at once; in
            memory they are pending again, and ``export_pending`` returns them).
            Another call with a shorter grace period (counted from that call) shortens
            it; none lengthens it.
        Raises:
          ValueError: for a ``grace_period`` that is not ``None`` or a number >= 0
            (nothing changes).
        """
        grace = check_grace_period(grace_period)
        if grace is not None:
            self._shorten_grace(trio.current_time() + grace)
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

    def _shorten_grace(self, deadline: float) -> None:
        """Cancel the running handlers at ``deadline`` at the latest (``_serve`` obeys)."""
        self._grace_deadline = min(self._grace_deadline, deadline)

    async def _wait_started(self) -> None:
        started = self._started
        if started.is_set():
            return
        with trio.move_on_after(UNSTARTED_WARNING_SECONDS):
            await started.wait()
        if started.is_set():
            return
        if not self._warned_unstarted:
            self._warned_unstarted = True
            logger.warning(
                "queue %r has not been started: calls to it wait until it is. Start it "
                "with `async with queue:` or `await nursery.start(queue.run)`",
                self._name,
            )
        await started.wait()

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
