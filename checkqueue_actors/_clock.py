"""Maps trio's clock to UTC wall time. The only module that reads the wall clock.

All waiting happens on trio's clock (so ``MockClock`` drives it); wall times are
needed only for ``QueueJob.timestamp``, ``next_run_at`` and cron. A ``WallClock``
takes an anchor pair (trio time, UTC time) and maps one to the other. On the
real clock the heartbeat calls ``reanchor`` so that a host that slept (trio's
monotonic clock stands still during suspend) catches up with the wall clock; on
a ``MockClock`` the anchor is kept, so virtual time and wall time move together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import trio
import trio.testing

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["WallClock", "utc_now"]


_virtual_anchor: trio.lowlevel.RunVar[tuple[float, datetime]] = trio.lowlevel.RunVar(
    "checkqueue_actors_virtual_anchor"
)
"""The (trio time, wall time) anchor shared by every WallClock of a run on a MockClock."""


def is_virtual_clock() -> bool:
    """True when the current trio run uses a MockClock (virtual time)."""
    return isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


def utc_now() -> datetime:
    """The current UTC time, timezone-aware."""
    return datetime.now(UTC)


class WallClock:
    """Converts between trio time (seconds, float) and aware UTC datetimes."""

    __slots__ = ("_anchor_trio", "_anchor_wall", "_virtual", "trio_now")

    def __init__(self, wall: datetime | None = None) -> None:
        self.trio_now: Callable[[], float] = trio.lowlevel.current_clock().current_time
        """Now on trio's clock: the run's clock read directly (``trio.current_time()``
        at a third of the cost, for the hot paths)."""
        self._virtual = is_virtual_clock()
        if self._virtual and wall is None:
            # On a MockClock virtual time runs far ahead of the real wall clock, so each
            # queue anchoring on utc_now() at its own start would disagree with the others
            # about wall time; a manager moving next_run_at from one queue to another
            # needs them to agree. One anchor per trio run keeps every WallClock aligned.
            try:
                self._anchor_trio, self._anchor_wall = _virtual_anchor.get()
            except LookupError:
                self._anchor_trio, self._anchor_wall = trio.current_time(), utc_now()
                _virtual_anchor.set((self._anchor_trio, self._anchor_wall))
        else:
            self._anchor_trio = trio.current_time()
            self._anchor_wall = wall if wall is not None else utc_now()

    @property
    def virtual(self) -> bool:
        """True when trio runs on a MockClock (the anchor is then never moved)."""
        return self._virtual

    def now(self) -> datetime:
        """The wall time that corresponds to trio's current time."""
        return self.to_wall(trio.current_time())

    def to_wall(self, trio_time: float) -> datetime:
        """The UTC datetime of a trio deadline."""
        # timedelta(0, s) is timedelta(seconds=s) without the keyword (once per enqueue)
        return self._anchor_wall + timedelta(0, trio_time - self._anchor_trio)

    def to_trio(self, wall: datetime) -> float:
        """The trio deadline of a wall time."""
        return self._anchor_trio + (wall - self._anchor_wall).total_seconds()

    def reanchor(self, tolerance: float = 0.5) -> bool:
        """Re-take the anchor from the real clocks; True when it moved by more than tolerance.

        Does nothing on a MockClock.
        """
        if self._virtual:
            return False
        trio_now = trio.current_time()
        # Linux's monotonic clock (trio's) stands still while the host is suspended,
        # the wall clock does not: after a resume they disagree by the time slept.
        wall_now = utc_now()
        drift = (wall_now - self.to_wall(trio_now)).total_seconds()
        if abs(drift) <= tolerance:
            return False
        self._anchor_trio, self._anchor_wall = trio_now, wall_now
        return True
