"""Backoff: how the runtime's loops wait out a backend that cannot be reached."""

from __future__ import annotations

import logging
from typing import Final

import trio

__all__ = ["Backoff"]

logger = logging.getLogger("checkqueue_actors")

_BACKOFF_MIN: Final = 0.1
_BACKOFF_MAX: Final = 2.0


class Backoff:
    """Capped exponential backoff (0.1 s doubling to 2 s) for one loop of one queue.

    Logs a warning when the loop starts failing, a debug line for each further
    failure, and an info line once it succeeds again.
    """

    __slots__ = ("delay", "failing", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.delay = _BACKOFF_MIN
        self.failing = False

    def reset(self) -> None:
        """The loop's last call succeeded."""
        if self.failing:
            logger.info("%s: backend reachable again", self.what)
        self.delay = _BACKOFF_MIN
        self.failing = False

    async def wait(self, exc: BaseException) -> None:
        """The loop's last call failed with ``exc``: log it and sleep before the next."""
        if not self.failing:
            logger.warning("%s: backend unavailable (%s); retrying with backoff", self.what, exc)
        else:
            logger.debug("%s: backend still unavailable: %s", self.what, exc)
        self.failing = True
        await trio.sleep(self.delay)
        self.delay = min(self.delay * 2, _BACKOFF_MAX)
