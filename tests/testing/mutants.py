"""Deliberately broken in-memory queues: the test kit must catch each of them.

Each mutant swaps the queue's sans-IO engine for a subclass with one bug. They
live in the tests, never in the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors._state.engine import JobRecord, MemoryDelivery, QueueEngine
from checkqueue_actors._state.ready import ReadySet

if TYPE_CHECKING:
    from checkqueue_actors import Queue


class SharedRetryCounterEngine(QueueEngine):
    """Bug: retry counters are shared by every group of a job (not per group)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shared: dict[str, int] = {}

    def _shared(self, delivery: MemoryDelivery | None) -> MemoryDelivery | None:
        if delivery is None:
            return None
        attempts = self.shared.get(delivery.record.id, 0)
        return MemoryDelivery(delivery.record, delivery.state, attempts, delivery.key)

    def claim(self, group_name: str, n: int) -> list[MemoryDelivery]:
        return [d for d in map(self._shared, super().claim(group_name, n)) if d is not None]

    def claim_one(self, group_name: str) -> MemoryDelivery | None:
        return self._shared(super().claim_one(group_name))

    def retry(self, delivery: MemoryDelivery, now: float, delay: float) -> float | None:
        self.shared[delivery.record.id] = delivery.attempts + 1
        return super().retry(delivery, now, delay)


class _LifoReadySet(ReadySet[JobRecord]):
    def push(self, neg_priority: int, available_at: float, seq: int, record: JobRecord) -> None:
        super().push(neg_priority, -available_at, -seq, record)


class LifoEngine(QueueEngine):
    """Bug: within a priority, the newest job runs first."""

    def add_group(self, group_name: str, max_retries: int) -> bool:
        if self.group(group_name) is None:
            super().add_group(group_name, max_retries)
            group = self.group(group_name)
            assert group is not None
            lifo = _LifoReadySet()
            while (entry := group.ready.pop()) is not None:  # orphans adopted just now
                lifo.push(entry[0], entry[1], entry[2], entry[3])
            group.ready = lifo
            return group.has_ready()
        return super().add_group(group_name, max_retries)


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

    def retry(self, delivery: MemoryDelivery, now: float, delay: float) -> float | None:
        return super().retry(delivery, now, delay / 2 ** (delivery.attempts + 1))


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
    storage = queue.storage
    assert isinstance(storage, MemoryStorage)
    old = storage.engine
    storage.engine = engine_type(name=old.name, max_queue_size=old.max_queue_size, clock=old.clock)
    return queue
