"""SchedulerActor: owns every timer of a queue.

Accepts: wake-ups from the storage (``Storage.wait_for_timers`` returns: a timer
earlier than the one it sleeps on may exist), and ``stop_timers`` at stop.
Emits: ``Storage.advance`` (due delayed jobs and retries become ready, recurring
ticks fire), ``heartbeat`` (re-anchors a clock, or tells other processes this one
is alive), and on a storage with leases ``renew`` (the leases of the deliveries
this process holds) and ``reap`` (deliveries of lost workers).

It sleeps until the earliest of its deadlines, with one wait, and advances when
the next timer is due, when woken early, and at least every
``Storage.work_poll_seconds`` (a shared backend's safety net: a wake-up taken by a
process that died); a heartbeat moves no timer unless its report says so. There
is no task or ``sleep`` per job. At stop it stops advancing and
reaping but goes on renewing leases and beating until the last handler has
finished and every outcome is written (the queue cancels it then).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import trio

from .._errors import BackendRefusedError, BackendUnavailableError
from .backoff import Backoff

if TYPE_CHECKING:
    from .queue import RuntimeQueue

__all__ = ["SchedulerActor"]

logger = logging.getLogger("checkqueue_actors")


class SchedulerActor:
    """The one task that waits on time for a queue."""

    def __init__(self, runtime: RuntimeQueue[Any]) -> None:
        self._rt = runtime
        self._timers_on = True
        self._wait_scope: trio.CancelScope | None = None

    def wake(self) -> None:
        """A timer may now be due sooner than the one it sleeps on: look again now.

        The runtime calls it after this process declared a schedule or stored a
        delayed job in a storage that does I/O (its own wake-ups may reach the
        scheduler only after a short sleep it takes on trio's clock)."""
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def stop_timers(self) -> None:
        """The queue stops: no timer fires any more (lease renewal goes on)."""
        self._timers_on = False
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire due timers until cancelled."""
        rt = self._rt
        storage = rt.storage
        now = trio.current_time()
        heartbeat = storage.heartbeat_seconds
        poll = storage.work_poll_seconds
        lease = storage.lease_seconds
        reap = storage.reap_seconds
        renew_every = lease / 3 if lease is not None else None
        # math.inf: a duty the storage does not have never comes due
        next_advance = now
        next_heartbeat = now + heartbeat if heartbeat else math.inf
        next_renew = now + renew_every if renew_every else math.inf
        next_reap = now + reap if reap else math.inf
        backoff = Backoff("timers", rt.health)
        task_status.started()
        while True:
            now = trio.current_time()
            try:
                called = False
                # leases first: a failing duty (a recurring tick the backend refuses
                # while its memory is full) must not hold the others up
                if now >= next_renew:
                    next_renew = now + renew_every if renew_every else math.inf
                    called = True
                    await rt.renew_leases()
                if now >= next_heartbeat:
                    # also while stopping: a storage may tell other processes by it
                    # that this one (still running handlers) is alive
                    next_heartbeat = now + heartbeat if heartbeat else math.inf
                    called = True
                    report = await storage.heartbeat()
                    rt.apply_heartbeat(report)
                    if report is None or report.advance:
                        next_advance = now  # the heartbeat may have moved a timer
                if self._timers_on:
                    if now >= next_reap:
                        next_reap = now + reap if reap else math.inf
                        called = True
                        reaped = await storage.reap()
                        rt.report_reaped(reaped)
                        if reaped.more:  # a bounded call left work: go on at once
                            next_reap = trio.current_time()
                    if now >= next_advance:
                        called = True
                        next_advance = now + min(await storage.advance(), poll)
                if called:
                    backoff.reset()
            except (BackendUnavailableError, BackendRefusedError) as exc:
                await backoff.wait(exc)
                continue
            if self._timers_on:
                deadline = min(next_advance, next_heartbeat, next_reap, next_renew)
                with trio.CancelScope() as scope:
                    self._wait_scope = scope
                    try:
                        await storage.wait_for_timers(deadline - trio.current_time())
                    except (BackendUnavailableError, BackendRefusedError) as exc:
                        await backoff.wait(exc)
                    finally:
                        self._wait_scope = None
                woke = trio.current_time()
                if woke < deadline:
                    # woken early (by the storage, a local wake, or the storage's poll
                    # interval): a timer may have come. At a deadline, only the duty due
                    # runs: on a shared backend an advance is a script call, and beats
                    # come five times a second
                    next_advance = min(next_advance, woke)
            else:
                await trio.sleep_until(min(next_renew, next_heartbeat))
