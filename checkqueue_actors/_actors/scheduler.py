"""SchedulerActor: owns every timer of a queue.

Accepts: doorbell rings (a timer earlier than the one it sleeps on was added).
Emits: nothing directly; ``QueueEngine.advance`` moves due jobs into group
ready heaps, which rings the routers of those groups.

It sleeps until the earliest deadline (delays, retry backoff, recurring ticks,
the heartbeat) with one ``move_on_at``, re-armed when rung; it never polls.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from .mailbox import Doorbell

if TYPE_CHECKING:
    from .._clock import WallClock
    from .._state.engine import QueueEngine

__all__ = ["SchedulerActor"]


class SchedulerActor:
    """The one task that waits on time for a queue."""

    def __init__(self, engine: QueueEngine, clock: WallClock, heartbeat_seconds: float) -> None:
        self._engine = engine
        self._clock = clock
        self._heartbeat = heartbeat_seconds

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire due timers until cancelled."""
        engine = self._engine
        doorbell = Doorbell()
        engine.on_earlier_deadline = doorbell.ring
        heartbeat = self._heartbeat
        # math.inf: with the heartbeat disabled, only timers wake us
        next_heartbeat = trio.current_time() + heartbeat if heartbeat > 0 else math.inf
        try:
            task_status.started()
            while True:
                deadline = min(engine.next_deadline(), next_heartbeat)
                engine.armed_deadline = deadline
                with trio.move_on_at(deadline):
                    await doorbell.wait()
                # while we are awake every new timer is seen by the next loop turn
                engine.armed_deadline = -math.inf
                now = trio.current_time()
                if now >= next_heartbeat:
                    # the heartbeat re-checks due work and, on the real clock, notices a
                    # host that slept (trio's monotonic clock stands still meanwhile)
                    if self._clock.reanchor():
                        engine.reanchor()
                    next_heartbeat = now + heartbeat
                engine.advance(now)
        finally:
            engine.on_earlier_deadline = None
            engine.armed_deadline = math.inf
            doorbell.close()
