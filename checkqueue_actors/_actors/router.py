"""GroupRouterActor: hands one group's ready jobs to its consumers, round-robin.

Accepts: doorbell rings from the engine (ready work appeared in its group).
Emits: ``Delivery`` values to the chosen consumer's inbox.

For each job it first takes a concurrency slot, then claims the group's best
ready job (so a retry that became ready meanwhile is not beaten by a worse job
chosen earlier), then hands it to the next consumer and waits until that
consumer's handler has begun, which keeps handler starts in dispatch order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .mailbox import Doorbell

if TYPE_CHECKING:
    from .._state.engine import GroupState, QueueEngine
    from .consumer import ConsumerActor

__all__ = ["GroupRouterActor"]


class GroupRouterActor:
    """The dispatcher of one consumer group."""

    def __init__(
        self, engine: QueueEngine, group: GroupState, limiter: trio.CapacityLimiter
    ) -> None:
        self._engine = engine
        self._group = group
        self._limiter = limiter

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Dispatch until cancelled (cancellation is how the queue stops dispatching)."""
        engine, group, limiter = self._engine, self._group, self._limiter
        doorbell = Doorbell()
        started_send, started_recv = trio.open_memory_channel[None](1)

        def handler_started() -> None:
            try:
                started_send.send_nowait(None)
            except (trio.WouldBlock, trio.ClosedResourceError):
                pass  # the router has stopped meanwhile

        try:
            task_status.started()
            while True:
                if not group.has_ready():
                    group.notify = doorbell.ring
                    await doorbell.wait()
                    continue
                token = object()
                try:
                    limiter.acquire_on_behalf_of_nowait(token)
                except trio.WouldBlock:
                    group.router_waiting_for_slot = True
                    try:
                        await limiter.acquire_on_behalf_of(token)
                    finally:
                        group.router_waiting_for_slot = False
                delivery = engine.claim(group)
                if delivery is None:  # only dropped jobs were left
                    limiter.release_on_behalf_of(token)
                    continue
                delivery.token = token
                delivery.on_start = handler_started
                # until this job's handler has begun, a worker chaining jobs would start a
                # later job first (FIFO, CONTRACT.md "Delivery rules")
                group.router_handing_off = True
                consumer: ConsumerActor = group.next_consumer()
                try:
                    consumer.inbox_send.send_nowait(delivery)
                except trio.WouldBlock:
                    consumer.spawn_worker_if_needed()
                    try:
                        await consumer.inbox_send.send(delivery)
                    except BaseException:
                        # not handed over (memory-channel send is atomic under cancellation)
                        engine.release(delivery)
                        limiter.release_on_behalf_of(token)
                        raise
                try:
                    await started_recv.receive()
                finally:
                    group.router_handing_off = False
        finally:
            group.notify = None
            doorbell.close()
            started_send.close()
            started_recv.close()
