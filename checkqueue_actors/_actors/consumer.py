"""ConsumerActor: runs one registered handler under the queue's CapacityLimiter.

Accepts: ``Delivery`` values on its inbox (an unbuffered memory channel), sent by
its group's router, each already holding one limiter slot.
Emits: ack / nack / release to the engine, and a "started" signal back to the
router once the handler has begun, so handlers start in dispatch order.

A consumer is a small pool of worker tasks sharing the inbox, grown on demand
(never beyond the queue's concurrency plus one), so no task is spawned per job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._model import QueueJob
from .._queue_base import current_handler_queue

if TYPE_CHECKING:
    from .._protocols import Handler
    from .._state.engine import Delivery, GroupState, QueueEngine

__all__ = ["ConsumerActor", "HandlerHost", "Permit"]

logger = logging.getLogger("checkqueue_actors")

_STREAK = 16
"""Jobs a worker may run back to back before it yields to the scheduler."""


class HandlerHost(Protocol):
    """What consumers need from their queue."""

    engine: QueueEngine
    limiter: trio.CapacityLimiter
    concurrency: int
    routers_waiting: int
    """Routers blocked on the limiter (kept by the routers)."""
    stopping: bool
    queue: object
    queue_name: str

    @property
    def handlers_nursery(self) -> trio.Nursery:
        """Where workers run."""
        ...

    def handler_finished(self) -> None:
        """A delivery left a worker (ran, failed or was given back)."""
        ...


class Permit:
    """A concurrency slot sent by a router: claim the group's best job and run it."""

    __slots__ = ("token",)

    def __init__(self, token: object) -> None:
        self.token = token


class ConsumerActor:
    """One consumer of a group."""

    def __init__(self, handler: Handler[Any], host: HandlerHost) -> None:
        self.handler = handler
        self._host = host
        self.inbox_send, self._inbox = trio.open_memory_channel["Delivery | Permit"](0)
        self.group: GroupState | None = None
        """Set by the queue once the consumer is registered."""
        self._workers = 0

    def spawn_worker_if_needed(self) -> None:
        """Called by the router when no worker is idle."""
        if self._workers <= self._host.concurrency:
            self._workers += 1
            self._host.handlers_nursery.start_soon(self._worker)

    async def _worker(self) -> None:
        inbox = self._inbox
        host = self._host
        try:
            while True:
                item = await inbox.receive()
                token = item.token
                if isinstance(item, Permit):
                    group = self.group
                    assert group is not None
                    group.permits_out -= 1
                    claimed = None if host.stopping else host.engine.claim(group)
                    if claimed is None:  # a chaining worker took the job meanwhile
                        host.limiter.release_on_behalf_of(token)
                        host.handler_finished()
                        continue
                    claimed.token = token
                    delivery = claimed
                else:
                    delivery = item
                try:
                    streak = 0
                    while True:
                        await self._run(delivery)
                        streak += 1
                        if streak >= _STREAK:
                            # handlers that never await would otherwise starve other tasks
                            await trio.lowlevel.checkpoint()
                            streak = 0
                        chained = self._claim_next(delivery.group, token)
                        if chained is None:
                            break
                        delivery = chained
                finally:
                    host.limiter.release_on_behalf_of(token)
                    host.handler_finished()
        finally:
            self._workers -= 1

    def _claim_next(self, group: GroupState, token: object) -> Delivery | None:
        """The fast path: keep this worker's slot and run the group's next job here.

        Allowed only when it changes nothing observable: the queue is not stopping,
        no other group's router waits for a concurrency slot (the limiter stays
        fair between groups), and this consumer is the group's next in round-robin
        order. It saves the router hand-off (two task switches) per job.
        """
        host = self._host
        if host.stopping or group.router_handing_off or not group.has_ready():
            return None
        own = 1 if group.router_waiting_for_slot else 0
        if host.routers_waiting > own:
            return None
        consumers = group.consumers
        if len(consumers) > 1:
            if consumers[group.cursor % len(consumers)] is not self:
                return None
            group.cursor = (group.cursor + 1) % len(consumers)
        delivery = host.engine.claim(group)
        if delivery is not None:
            delivery.token = token
        return delivery

    async def _run(self, delivery: Delivery) -> None:
        host = self._host
        engine = host.engine
        started = delivery.on_start or _nothing
        if host.stopping:
            # no new handler starts once stop() was called
            engine.release(delivery)
            started()
            return
        record = delivery.record
        job = QueueJob(
            id=record.id,
            data=record.data,
            priority=record.priority,
            timestamp=record.timestamp,
            attempts=delivery.attempts,
        )
        reset = current_handler_queue.set(host.queue)
        started()
        try:
            await self.handler(job)
        except Exception as exc:
            due = engine.nack(delivery, trio.current_time())
            if due is None:
                logger.warning(
                    "queue %r group %r: job %r failed for good after %d attempt(s): %r",
                    host.queue_name,
                    delivery.group.name,
                    record.id,
                    delivery.attempts + 1,
                    exc,
                    exc_info=exc,
                )
            else:
                logger.info(
                    "queue %r group %r: job %r failed (attempt %d), retrying: %r",
                    host.queue_name,
                    delivery.group.name,
                    record.id,
                    delivery.attempts + 1,
                    exc,
                )
        except BaseException:
            # cancelled (a hard stop) or interrupted: the job goes back, at-least-once
            engine.release(delivery)
            raise
        else:
            engine.ack(delivery)
        finally:
            current_handler_queue.reset(reset)


def _nothing() -> None:
    pass
