"""ConsumerActor: the workers that run a queue's handlers and settle their outcomes.

Accepts: deliveries in the queue's run queue (claim order), put there by the
groups' routers, each holding a concurrency slot and assigned to a consumer.
Emits: one outcome per delivery (``RuntimeQueue.run_delivery`` settles it), and
the delivery's slot given back, or kept for the next job (chaining, below).

The workers are one small pool per queue, grown on demand (a worker is started
only when a delivery waits and no worker is idle), so the steady state spawns no
task per job. They take deliveries in run-queue order, so handlers start in claim
order: priority, then FIFO, group by group.

A worker whose handler returns takes the next delivery without a task switch. One
idle worker is woken at a time (a second only if the first's handler blocks), so
a burst of short jobs costs few task switches. With an in-process storage, a
worker that finds the run queue empty claims its group's next job itself and keeps
its slot (``RuntimeQueue.chain`` says when that changes nothing observable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._state.policy import CHAIN_MAX

if TYPE_CHECKING:
    from .queue import RuntimeQueue

__all__ = ["ConsumerActor"]


class ConsumerActor:
    """The worker pool of one queue."""

    def __init__(self, runtime: RuntimeQueue[Any]) -> None:
        self._rt = runtime
        self._idle: list[trio.lowlevel.Task] = []
        """Parked workers, the most recently parked last (woken first: its caches are warm)."""
        self._waking = 0
        """Workers woken (or started) that have not taken a delivery yet."""
        self.retiring = False
        """Set at stop, once no delivery will come: idle workers leave."""

    def wake(self) -> None:
        """A delivery waits in the run queue: make sure a worker is coming for it."""
        if self._waking:
            return
        self._waking += 1
        idle = self._idle
        if idle:
            trio.lowlevel.reschedule(idle.pop())
        else:
            self._rt.handlers_nursery.start_soon(self._worker)

    def retire(self) -> None:
        """No delivery will come any more: idle workers leave."""
        self.retiring = True
        idle, self._idle = self._idle, []
        self._waking += len(idle)
        for task in idle:
            trio.lowlevel.reschedule(task)

    async def _park(self) -> None:
        """Sleep until ``wake`` or ``retire`` reschedules this worker (a bare trio wait:
        cheaper than a ParkingLot or a channel, which matters once per job when idle)."""
        task = trio.lowlevel.current_task()
        idle = self._idle
        idle.append(task)

        def abort(_: Any) -> trio.lowlevel.Abort:
            idle.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def _worker(self) -> None:
        rt = self._rt
        run_queue = rt.run_queue
        chained = 0
        self._waking -= 1
        while True:
            if not run_queue:
                if self.retiring:
                    return
                chained = 0
                await self._park()
                self._waking -= 1
                continue
            delivery: Any = run_queue.popleft()
            if run_queue and not self._waking:
                # the next delivery gets a worker of its own should this handler block;
                # one woken at a time: a handler that does not block chains to it first
                self.wake()
            while delivery is not None:
                await rt.run_delivery(delivery)
                chained += 1
                if chained >= CHAIN_MAX:
                    chained = 0
                    await trio.lowlevel.checkpoint()  # handlers that never yield: let others run
                delivery = rt.chain(delivery)
