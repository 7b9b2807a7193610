"""Backoff: how the runtime's loops wait out a backend that fails their calls, and what
they log about it.

Two kinds of failure, both retried with the same backoff:

- ``BackendUnavailableError``: the backend cannot be reached. One queue's loops
  share a ``BackendHealth``, so an outage is logged once: one WARNING when the
  backend goes away, one INFO when a call succeeds again.
- ``BackendRefusedError``: the backend was reached and refused (permissions, memory
  full, a read-only replica, a script error). Logged at ERROR once per kind of
  refusal per ``REFUSAL_LOG_SECONDS`` for each queue, as retrying will not help
  until someone acts.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from .._errors import BackendRefusedError

__all__ = ["REFUSAL_LOG_SECONDS", "Backoff", "BackendHealth"]

logger = logging.getLogger("checkqueue_actors")

_BACKOFF_MIN: Final = 0.1
_BACKOFF_MAX: Final = 2.0

REFUSAL_LOG_SECONDS: float = 60.0
"""A queue logs each kind of refusal at ERROR at most once in this many seconds (of
trio's clock; tests shorten it)."""


class BackendHealth:
    """What one queue's loops learned about its backend, logged once for all of them."""

    __slots__ = ("_refused_at", "down", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        """True from a call that could not reach the backend until one that succeeds."""
        self._refused_at: dict[str, float] = {}

    def failed(self, what: str, exc: BaseException) -> None:
        """A loop's call failed with ``exc`` (``what``: which loop, for the log)."""
        if isinstance(exc, BackendRefusedError):
            now = trio.current_time()
            last = self._refused_at.get(exc.kind)
            if last is None or now - last >= REFUSAL_LOG_SECONDS:
                self._refused_at[exc.kind] = now
                logger.error(
                    "queue %r: %s: %s; retrying with backoff (logged once a minute)",
                    self.name,
                    what,
                    exc,
                )
            else:
                logger.debug("queue %r: %s: still refused: %s", self.name, what, exc)
        elif not self.down:
            self.down = True
            logger.warning(
                "queue %r: backend unavailable (%s: %s); retrying with backoff",
                self.name,
                what,
                exc,
            )
        else:
            logger.debug("queue %r: %s: backend still unavailable: %s", self.name, what, exc)

    def succeeded(self) -> None:
        """A loop's call reached the backend and succeeded."""
        if self.down:
            self.down = False
            logger.info("queue %r: backend reachable again", self.name)


class Backoff:
    """Capped exponential backoff (0.1 s doubling to 2 s) for one loop of one queue,
    logging through the queue's ``BackendHealth``."""

    __slots__ = ("delay", "health", "what")

    def __init__(self, what: str, health: BackendHealth) -> None:
        self.what = what
        self.health = health
        self.delay = _BACKOFF_MIN

    def reset(self) -> None:
        """The loop's last call reached the backend and succeeded."""
        self.delay = _BACKOFF_MIN
        self.health.succeeded()

    async def wait(self, exc: BaseException) -> None:
        """The loop's last call failed with ``exc``: log it and sleep before the next."""
        self.health.failed(self.what, exc)
        await trio.sleep(self.delay)
        self.delay = min(self.delay * 2, _BACKOFF_MAX)
