"""Deliberately broken in-memory queues: the test kit must catch each of them.

Each mutant swaps the queue's sans-IO engine for a subclass with one bug. They
live in the tests, never in the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors._state.engine import Delivery, GroupState, JobRecord, QueueEngine

if TYPE_CHECKING:
    from checkqueue_actors import Queue


class SharedRetryCounterEngine(QueueEngine):
    """Bug: retry counters are shared by every group of a job (not per group)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shared: dict[str, int] = {}

    def claim(self, group: GroupState) -> Delivery | None:
        delivery = super().claim(group)
        if delivery is not None:
            delivery.attempts = self.shared.get(delivery.record.id, 0)
        return delivery

    def nack(self, delivery: Delivery, now: float) -> float | None:
        self.shared[delivery.record.id] = delivery.attempts + 1
        return super().nack(delivery, now)


class LifoEngine(QueueEngine):
    """Bug: within a priority, the newest job runs first."""

    def _push_ready(
        self, group: GroupState, key: tuple[int, float, int], record: JobRecord
    ) -> None:
        super()._push_ready(group, (key[0], -key[1], -key[2]), record)


class NoDedupEngine(QueueEngine):
    """Bug: a job id already in the queue is stored again."""

    def enqueue(self, *, job_id: str, **kwargs: Any) -> bool:
        self._index.pop(job_id, None)
        return super().enqueue(job_id=job_id, **kwargs)


class NoBroadcastEngine(QueueEngine):
    """Bug: a job goes to the first group only."""

    def enqueue(self, **kwargs: Any) -> bool:
        groups = self._group_tuple
        if groups is not None and len(groups) > 1:
            self._group_tuple = groups[:1]
            try:
                return super().enqueue(**kwargs)
            finally:
                self._group_tuple = groups
        return super().enqueue(**kwargs)


class FixedBackoffEngine(QueueEngine):
    """Bug: every retry waits 1 s instead of ``2 ** attempt`` s."""

    def nack(self, delivery: Delivery, now: float) -> float | None:
        attempts = delivery.attempts
        saved = self.delay_multiplier
        self.delay_multiplier = saved / 2 ** (attempts + 1)
        try:
            return super().nack(delivery, now)
        finally:
            self.delay_multiplier = saved


MUTANTS: dict[str, type[QueueEngine]] = {
    "shared-retry-counter": SharedRetryCounterEngine,
    "lifo": LifoEngine,
    "no-dedup": NoDedupEngine,
    "no-broadcast": NoBroadcastEngine,
    "fixed-backoff": FixedBackoffEngine,
}


def make_mutant_queue(
    engine_type: type[QueueEngine],
    name: str,
    *,
    concurrency: int,
    max_queue_size: int,
    delay_multiplier: float,
) -> Queue[Any]:
    """An unstarted in-memory queue whose engine has the mutant's bug."""
    config = InMemoryQueueConfig(
        concurrency=concurrency, max_queue_size=max_queue_size, delay_multiplier=delay_multiplier
    )
    queue = InMemoryQueue[Any](name, config)
    old = queue.engine
    queue.engine = engine_type(
        max_queue_size=old.max_queue_size, delay_multiplier=old.delay_multiplier, clock=old.clock
    )
    return queue
