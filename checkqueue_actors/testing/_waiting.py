"""Waiting for a queue to settle: ``drain`` and ``wait_until``, on a virtual or real clock."""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._model import QueueStats
    from .._protocols import Queue

__all__ = ["drain", "is_virtual_clock", "wait_until"]


def is_virtual_clock() -> bool:
    """True when the current trio run uses a ``trio.testing.MockClock``."""
    return isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


def _check_clock_moves() -> None:
    clock = trio.lowlevel.current_clock()
    if (
        isinstance(clock, trio.testing.MockClock)
        and clock.rate == 0
        and math.isinf(clock.autojump_threshold)
    ):
        msg = (
            "this MockClock never moves by itself (rate=0, no autojump), so waiting would "
            "hang; use the autojump_clock fixture or MockClock(autojump_threshold=0)"
        )
        raise RuntimeError(msg)


async def _settle() -> None:
    # Under a MockClock, let every task that can run do so before looking (no time
    # passes: wait_all_tasks_blocked wakes before autojump moves the clock).
    if is_virtual_clock():
        await trio.testing.wait_all_tasks_blocked()
    else:
        await trio.lowlevel.checkpoint()


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109  # a bounded wait is the point of this helper
    poll_interval: float = 0.01,
) -> None:
    """Poll ``predicate`` until it is true.

    Args:
      predicate: A sync or async callable returning a bool.
      timeout: Seconds (trio clock: virtual under a MockClock) before giving up.
      poll_interval: Seconds slept between two looks.
    Raises:
      trio.TooSlowError: when ``timeout`` passed first.
      RuntimeError: on a MockClock that cannot move by itself.
    """
    _check_clock_moves()
    with trio.fail_after(timeout):
        while True:
            await _settle()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await trio.sleep(poll_interval)


async def drain(
    queue: Queue[Any],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109  # a bounded wait is the point of this helper
    poll_interval: float = 0.01,
) -> QueueStats:
    """Wait until the queue has nothing pending and no handler running; return its stats.

    Works under pytest-trio's ``autojump_clock`` (virtual time jumps straight to the
    queue's next timer, so a 30 s backoff costs nothing) and on the real clock (for
    backends whose time lives elsewhere; there the queue must look idle on two
    consecutive polls). The return time is not exact: it may overshoot the moment the
    queue became idle by up to ``poll_interval``.

    Note that ``pending`` counts jobs waiting for a first consumer group, so a queue
    with such jobs never drains, and that recurring schedules are not pending work.

    Args:
      queue: A started queue.
      timeout: Seconds (trio clock) before giving up.
      poll_interval: Seconds slept between two looks at ``get_stats()``.
    Returns:
      The stats of the idle queue.
    Raises:
      trio.TooSlowError: when the queue did not become idle in time (the message
        shows the last stats).
      RuntimeError: on a MockClock that cannot move by itself.
    """
    _check_clock_moves()
    needed = 1 if is_virtual_clock() else 2
    quiet = 0
    last: QueueStats | None = None
    try:
        with trio.fail_after(timeout):
            while True:
                await _settle()
                last = await queue.get_stats()
                if last.pending == 0 and last.processing == 0:
                    quiet += 1
                    if quiet >= needed:
                        return last
                else:
                    quiet = 0
                await trio.sleep(poll_interval)
    except trio.TooSlowError:
        msg = f"queue did not drain within {timeout} s; last stats: {last!r}"
        raise trio.TooSlowError(msg) from None
