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
    from .._state.engine import Delivery, QueueEngine

__all__ = ["ConsumerActor", "HandlerHost"]

logger = logging.getLogger("checkqueue_actors")


class HandlerHost(Protocol):
    """What consumers need from their queue."""

    engine: QueueEngine
    limiter: trio.CapacityLimiter
    concurrency: int
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


class ConsumerActor:
    """One consumer of a group."""

    def __init__(self, handler: Handler[Any], host: HandlerHost) -> None:
        self.handler = handler
        self._host = host
        self.inbox_send, self._inbox = trio.open_memory_channel["Delivery"](0)
        self._workers = 0

    def spawn_worker_if_needed(self) -> None:
        """Called by the router when no worker is idle."""
        if self._workers <= self._host.concurrency:
            self._workers += 1
            self._host.handlers_nursery.start_soon(self._worker)

    async def _worker(self) -> None:
        inbox = self._inbox
        try:
            while True:
                delivery = await inbox.receive()
                await self._run(delivery)
        finally:
            self._workers -= 1

    async def _run(self, delivery: Delivery) -> None:
        host = self._host
        engine = host.engine
        started = delivery.on_start or _nothing
        if host.stopping:
            # no new handler starts once stop() was called
            engine.release(delivery)
            host.limiter.release_on_behalf_of(delivery.token)
            started()
            host.handler_finished()
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
            host.limiter.release_on_behalf_of(delivery.token)
            host.handler_finished()


def _nothing() -> None:
    pass
