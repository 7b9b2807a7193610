"""GroupRouterActor: hands one group's ready jobs to its consumers, round-robin.

Accepts: doorbell rings from the engine (ready work appeared in its group).
Emits: ``Permit`` or ``Delivery`` values to the chosen consumer's inbox.

For each job it first takes a concurrency slot, then lets the job be chosen (so
a retry that became ready meanwhile is not beaten by a worse job chosen
earlier). A group with one consumer gets a ``Permit`` (the slot) per ready job:
the worker that receives it claims the group's best job and starts it in the
same step. A group with several consumers needs the job assigned to the next
consumer in round-robin order, so the router claims it, hands it over and waits
until that consumer's handler has begun, which keeps handler starts in
dispatch order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .consumer import Permit
from .mailbox import Doorbell

if TYPE_CHECKING:
    from .._state.engine import GroupState
    from .consumer import ConsumerActor, HandlerHost

__all__ = ["GroupRouterActor"]


class GroupRouterActor:
    """The dispatcher of one consumer group."""

    def __init__(self, host: HandlerHost, group: GroupState) -> None:
        self._host = host
        self._engine = host.engine
        self._group = group
        self._limiter = host.limiter

    async def _send_permit(self, consumer: ConsumerActor, token: object) -> None:
        """Give a slot to one of the group's only consumer's workers: it claims the best
        job itself when it runs, so claim and start are one step and order holds."""
        group = self._group
        group.permits_out += 1
        permit = Permit(token)
        try:
            consumer.inbox_send.send_nowait(permit)
        except trio.WouldBlock:
            consumer.spawn_worker_if_needed()
            try:
                await consumer.inbox_send.send(permit)
            except BaseException:
                group.permits_out -= 1
                self._limiter.release_on_behalf_of(token)
                raise

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Dispatch until cancelled (cancellation is how the queue stops dispatching)."""
        engine, group, limiter, host = self._engine, self._group, self._limiter, self._host
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
                single = len(group.consumers) == 1
                if not group.has_ready() or (single and group.ready.live <= group.permits_out):
                    group.notify = doorbell.ring
                    await doorbell.wait()
                    continue
                token = object()
                try:
                    limiter.acquire_on_behalf_of_nowait(token)
                except trio.WouldBlock:
                    group.router_waiting_for_slot = True
                    host.routers_waiting += 1
                    try:
                        await limiter.acquire_on_behalf_of(token)
                    finally:
                        group.router_waiting_for_slot = False
                        host.routers_waiting -= 1
                if single:
                    await self._send_permit(group.consumers[0], token)
                    continue
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
