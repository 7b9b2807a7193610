"""Deliberately broken in-memory queues: the test kit must catch each of them.

Each mutant is one bug a backend author could plausibly write, in one contract
area: most swap the queue's sans-IO engine for a subclass with the bug, a few
change the runtime around it (what a backend that runs its own loop gets wrong).
They live in the tests, never in the package. ``MUTANTS`` lists them by name;
``tests/testing/test_mutants.py`` shows that the conformance suite and the state
machine catch every one, and ``scripts/mutant_table.py`` measures how fast.
"""

from __future__ import annotations

import heapq
import zlib
from typing import TYPE_CHECKING, Any

import attrs

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors._actors.pausegate import PauseGate
from checkqueue_actors._actors.queue import RuntimeQueue
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors._model import NO_HEADERS
from checkqueue_actors._state.engine import (
    GroupState,
    JobRecord,
    MemoryDelivery,
    QueueEngine,
    Schedule,
)
from checkqueue_actors._state.failed import FailedRecord
from checkqueue_actors._state.ready import ReadySet
from checkqueue_actors._storage import ScheduleSpec
from checkqueue_actors.testing import MakeQueue, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from checkqueue_actors import FailedJob, PendingJob, Queue, QueueStats
    from checkqueue_actors._protocols import Handler


def _replace_ready_sets(engine: QueueEngine, make: Callable[[], ReadySet[JobRecord]]) -> None:
    for group in engine.groups:
        if type(group.ready) is ReadySet:
            fresh = make()
            while (entry := group.ready.pop()) is not None:
                fresh.push(*entry)
            group.ready = fresh


class _ReadySetEngine(QueueEngine):
    """Base of the mutants whose groups use another ready set."""

    def ready_set(self) -> ReadySet[JobRecord]:
        raise NotImplementedError

    def add_group(self, group_name: str, max_retries: int) -> bool:
        new = self.group(group_name) is None
        result = super().add_group(group_name, max_retries)
        if new:
            _replace_ready_sets(self, self.ready_set)
            group = self.group(group_name)
            assert group is not None
            return group.has_ready()
        return result


# -- ordering and priorities ------------------------------------------------------------------


class _LifoReadySet(ReadySet[JobRecord]):
    def push(self, neg_priority: int, available_at: float, seq: int, record: JobRecord) -> None:
        super().push(neg_priority, -available_at, -seq, record)


class LifoEngine(_ReadySetEngine):
    """Bug: within a priority, the newest job runs first (a stack, not a queue)."""

    def ready_set(self) -> ReadySet[JobRecord]:
        return _LifoReadySet()


class _TiesByIdReadySet(ReadySet[JobRecord]):
    def push(self, neg_priority: int, available_at: float, seq: int, record: JobRecord) -> None:
        super().push(neg_priority, 0.0, zlib.crc32(record.id.encode()), record)


class TiesByIdEngine(_ReadySetEngine):
    """Bug: jobs of one priority are ordered by their id (a sorted set keyed by priority,
    ties broken by member), not by availability and enqueue order."""

    def ready_set(self) -> ReadySet[JobRecord]:
        return _TiesByIdReadySet()


class _EnqueueOrderReadySet(ReadySet[JobRecord]):
    def push(self, neg_priority: int, available_at: float, seq: int, record: JobRecord) -> None:
        super().push(neg_priority, 0.0, seq, record)


class EnqueueOrderEngine(_ReadySetEngine):
    """Bug: within a priority, jobs go in enqueue order, not in the order they became
    available (a delayed job enqueued early jumps ahead of jobs ready before it)."""

    def ready_set(self) -> ReadySet[JobRecord]:
        return _EnqueueOrderReadySet()


class RetryLosesPriorityEngine(QueueEngine):
    """Bug: a retry is re-queued with the default priority 0."""

    def _release_retry(
        self, record: JobRecord, group: GroupState, due: float, woken: set[str]
    ) -> None:
        entry = group.retrying.pop(record.id, None)
        if record.dropped or entry is None:
            return
        group.attempts[record.id] = entry[0]
        group.ready.push(0, due, record.seq, record)
        woken.add(group.name)


# -- dedup ------------------------------------------------------------------------------------


class NoDedupEngine(QueueEngine):
    """Bug: a job id already in the queue is stored again."""

    def enqueue(self, *, job_id: str, **kwargs: Any) -> bool:
        self._index.pop(job_id, None)
        return super().enqueue(job_id=job_id, **kwargs)


class DedupForgetsAtFirstAckEngine(QueueEngine):
    """Bug: the id is freed as soon as one group has acked the job, not when every
    group is done with it."""

    def ack(self, delivery: MemoryDelivery) -> None:
        super().ack(delivery)
        index = self._index
        if index.get(delivery.record.id) is delivery.record:
            del index[delivery.record.id]


class DedupIgnoresDelayedEngine(QueueEngine):
    """Bug: delayed jobs live apart from the dedup index, so their id can be enqueued again."""

    def enqueue(self, *, job_id: str, **kwargs: Any) -> bool:
        index = self._index
        record = index.get(job_id)
        if record is not None and record.delayed:
            del index[job_id]
        return super().enqueue(job_id=job_id, **kwargs)


# -- groups -----------------------------------------------------------------------------------


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


class DelayedGoToLateGroupsEngine(QueueEngine):
    """Bug: a delayed job goes to the groups that exist when its delay ends, not when it
    was enqueued."""

    def _release_delayed(self, record: JobRecord, due: float, woken: set[str]) -> None:
        now = self._group_tuple
        if record.groups is not None and now is not None and not record.dropped:
            extra = len(now) - len(record.groups)
            record.remaining += extra
            record.waiting += extra
            record.groups = now
        super()._release_delayed(record, due, woken)


class DelayedOrphansLostEngine(QueueEngine):
    """Bug: the first group adopts the jobs waiting for a group only if they are ready;
    jobs still delayed then wait for a group forever."""

    def add_group(self, group_name: str, max_retries: int) -> bool:
        delayed = [r for r in self.orphans() if r.delayed]
        for record in delayed:
            record.groups = ()  # hidden from the adoption
        result = super().add_group(group_name, max_retries)
        for record in delayed:
            record.groups = None  # still waiting for a first group, which never comes
        return result


# -- retries, backoff, multiplier --------------------------------------------------------------


class SharedRetryCounterEngine(QueueEngine):
    """Bug: retry counters are shared by every group of a job (not per group)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shared: dict[str, int] = {}

    def _shared(self, delivery: MemoryDelivery | None) -> MemoryDelivery | None:
        if delivery is None:
            return None
        attempts = self.shared.get(delivery.record.id, 0)
        return MemoryDelivery(delivery.key, delivery.state, attempts)

    def claim(self, group_name: str, n: int) -> list[MemoryDelivery]:
        return [d for d in map(self._shared, super().claim(group_name, n)) if d is not None]

    def claim_one(self, group_name: str) -> MemoryDelivery | None:
        return self._shared(super().claim_one(group_name))

    def retry(
        self, delivery: MemoryDelivery, now: float, delay: float, error: str | None = None
    ) -> float | None:
        self.shared[delivery.record.id] = delivery.attempts + 1
        return super().retry(delivery, now, delay, error)


class FixedBackoffEngine(QueueEngine):
    """Bug: every retry waits 1 s instead of ``2 ** attempt`` s."""

    def retry(
        self, delivery: MemoryDelivery, now: float, delay: float, error: str | None = None
    ) -> float | None:
        return super().retry(delivery, now, delay / 2 ** (delivery.attempts + 1), error)


class BackoffOffByOneEngine(QueueEngine):
    """Bug: the backoff exponent counts the retries already made (1, 2, 4 s, not 2, 4, 8 s)."""

    def retry(
        self, delivery: MemoryDelivery, now: float, delay: float, error: str | None = None
    ) -> float | None:
        return super().retry(delivery, now, delay / 2, error)


class _OneMoreRetry(MemoryDelivery):
    """A delivery whose ``max_retries`` is one more than its group's."""

    __slots__ = ()


def _one_more(delivery: MemoryDelivery) -> int:
    return delivery.state.max_retries + 1


setattr(_OneMoreRetry, "max_retries", property(_one_more))  # noqa: B010  # no typing fight


class OneRetryTooManyEngine(QueueEngine):
    """Bug: ``max_retries`` compared with ``<=``: one retry more than allowed."""

    def claim(self, group_name: str, n: int) -> list[MemoryDelivery]:
        out = super().claim(group_name, n)
        for delivery in out:
            delivery.__class__ = _OneMoreRetry
        return out

    def claim_one(self, group_name: str) -> MemoryDelivery | None:
        delivery = super().claim_one(group_name)
        if delivery is not None:
            delivery.__class__ = _OneMoreRetry
        return delivery


# -- recurring --------------------------------------------------------------------------------


class FirstTickLateEngine(QueueEngine):
    """Bug: an interval job's first occurrence comes one interval after ``start_delay``."""

    def schedule(self, spec: ScheduleSpec, now: float) -> bool:
        if spec.cron is None:
            spec = ScheduleSpec(
                job_id=spec.job_id,
                data=spec.data,
                priority=spec.priority,
                interval_seconds=spec.interval_seconds,
                cron=None,
                first_delay=spec.first_delay + spec.step,
                step=spec.step,
            )
        return super().schedule(spec, now)


class RedeclareReplacesEngine(QueueEngine):
    """Bug: declaring a recurring job again always replaces it, even with identical
    arguments (its grid restarts and it fires again)."""

    def schedule(self, spec: ScheduleSpec, now: float) -> bool:
        old = self._schedules.get(spec.job_id)
        if old is not None:
            self._drop_schedule(old)
        return super().schedule(spec, now)


class CancelKeepsOccurrencesEngine(QueueEngine):
    """Bug: cancelling (or replacing) a recurring job stops its ticks but leaves its
    unstarted occurrences in the queue."""

    def _drop_schedule(self, schedule: Schedule) -> None:
        schedule.occurrences.clear()
        super()._drop_schedule(schedule)


class CronSkipsTicksEngine(QueueEngine):
    """Bug: after a cron tick the next one is computed from the tick after it (the
    iterator advanced twice): every other cron time is skipped."""

    def _tick(
        self,
        schedule: Schedule,
        generation: int,
        now: float,
        woken: set[str],
        skipped: list[tuple[str, str]],
    ) -> None:
        cron = schedule.cron
        if cron is None or schedule.cancelled or schedule.generation != generation:
            super()._tick(schedule, generation, now, woken, skipped)
            return
        wall = schedule.next_wall
        super()._tick(schedule, generation, now, woken, skipped)
        assert wall is not None
        timers = self._timers
        # the timer just pushed for the next tick: move it one more cron time on
        for i, (_due, _seq, _kind, a, b) in enumerate(timers):
            if a is schedule and b == generation and _due == schedule.next_due:
                assert schedule.next_wall is not None
                schedule.next_wall = cron.next_after(schedule.next_wall)
                schedule.next_due = self.clock.to_trio(schedule.next_wall)
                timers[i] = (schedule.next_due, _seq, _kind, a, b)
                heapq.heapify(timers)
                break


# -- stats ------------------------------------------------------------------------------------


class PendingPerGroupEngine(QueueEngine):
    """Bug: ``pending`` counts (job, group) pairs, not distinct jobs."""

    def stats(self) -> QueueStats:
        stats = super().stats()
        index = self._index
        pairs = sum(r.waiting for r in index.values() if not r.dropped)
        return attrs.evolve(stats, pending=pairs)


class FailedCountsRetriesEngine(QueueEngine):
    """Bug: ``failed`` counts every failed delivery, retried ones included."""

    def retry(
        self, delivery: MemoryDelivery, now: float, delay: float, error: str | None = None
    ) -> float | None:
        self.failed += 1
        return super().retry(delivery, now, delay, error)


class CompletedOncePerJobEngine(QueueEngine):
    """Bug: ``completed`` counts a job once, when its last group acks it, not once per group."""

    def ack(self, delivery: MemoryDelivery) -> None:
        last = delivery.record.remaining == 1
        super().ack(delivery)
        if not last:
            self.completed -= 1


# -- export -----------------------------------------------------------------------------------


class ExportLosesDelayedEngine(QueueEngine):
    """Bug: ``export_pending`` forgets jobs still in their start delay."""

    def export_pending(self, now: float) -> list[PendingJob[Any]]:
        delayed = {r.id for r in self._index.values() if r.delayed}
        return [p for p in super().export_pending(now) if p.id not in delayed]


class ExportLosesBackoffEngine(QueueEngine):
    """Bug: ``export_pending`` forgets jobs waiting out a retry backoff."""

    def export_pending(self, now: float) -> list[PendingJob[Any]]:
        backoff = {job_id for group in self.groups for job_id in group.retrying}
        ready = {r.id for group in self.groups for r in group.ready.records()}
        return [p for p in super().export_pending(now) if p.id not in backoff or p.id in ready]


# -- timeouts and the failed-jobs record ------------------------------------------------------


class JobTimeoutDroppedEngine(QueueEngine):
    """Bug: a job's own ``timeout`` is not kept with the job: it is never enforced (only
    its group's timeout applies)."""

    def enqueue(self, **kwargs: Any) -> bool:
        kwargs["timeout"] = None
        return super().enqueue(**kwargs)


class _RecordKeyedByJob(FailedRecord):
    """A failed-jobs record keyed by the job id alone."""

    __slots__ = ()

    def add(self, entry: FailedJob[Any], seq: int, headers: Mapping[str, str] = NO_HEADERS) -> None:
        for old in self.newest(None, len(self)):
            if old.job_id == entry.job_id:
                self.remove(old.job_id, old.consumer_group)
        super().add(entry, seq, headers)


class FailedRecordByJobEngine(QueueEngine):
    """Bug: the failed-jobs record is keyed by job id alone: when a second group fails a
    job for good, the first group's entry is lost."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failed_record = _RecordKeyedByJob(self.failed_record.max_size)


# -- volume -----------------------------------------------------------------------------------


class LosesOneInFiftyEngine(QueueEngine):
    """Bug: one job in fifty is stored (and counted pending) but never becomes ready."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stored = 0

    def enqueue(self, **kwargs: Any) -> bool:
        groups = self._group_tuple
        if groups is None or kwargs.get("schedule") is not None:
            return super().enqueue(**kwargs)
        self.stored += 1
        if self.stored % 50:
            return super().enqueue(**kwargs)
        lost = GroupState(name="", max_retries=0)
        self._group_tuple = (lost,)
        try:
            return super().enqueue(**kwargs)
        finally:
            self._group_tuple = groups


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


# -- mutants of the runtime around the storage ------------------------------------------------


class _RuntimeMutant(RuntimeQueue[Any]):
    """The in-memory storage under a runtime with one bug (set up by subclasses)."""

    concurrency_bonus = 0
    ignores_multiplier = False

    def __init__(self, name: str, config: InMemoryQueueConfig) -> None:
        super().__init__(
            name,
            MemoryStorage(name, config),
            concurrency=config.concurrency + self.concurrency_bonus,
            delay_multiplier=1.0 if self.ignores_multiplier else config.delay_multiplier,
        )

    @property
    def engine(self) -> QueueEngine:
        storage = self.storage
        assert isinstance(storage, MemoryStorage)
        return storage.engine


class IgnoresMultiplierQueue(_RuntimeMutant):
    """Bug: the backend never hands ``config.delay_multiplier`` on (delays, backoff and
    intervals always take their full unscaled length)."""

    ignores_multiplier = True


class ConcurrencyOffByOneQueue(_RuntimeMutant):
    """Bug: one more handler than ``concurrency`` may run at once."""

    concurrency_bonus = 1


class LastConsumerWinsQueue(_RuntimeMutant):
    """Bug: a group keeps one handler (a dict group -> handler): a consumer joining a
    group replaces the earlier ones instead of taking turns with them."""

    async def consume(
        self,
        handler: Handler[Any],
        *,
        consumer_group: str,
        max_retries: int = 3,
        timeout: float | None = None,  # noqa: ASYNC109  # the queue's parameter
    ) -> None:
        await super().consume(
            handler, consumer_group=consumer_group, max_retries=max_retries, timeout=timeout
        )
        router = self.routers[consumer_group]
        newest = router.consumers.members[-1]
        router.consumers.members[:] = [newest]
        router.only = newest


class StopCancelsRunningQueue(_RuntimeMutant):
    """Bug: ``stop()`` cancels running handlers instead of letting them finish."""

    async def stop(self, *, grace_period: float | None = None) -> None:
        if self.running:
            self.handlers_nursery.cancel_scope.cancel()
        await super().stop(grace_period=grace_period)


class StopDrainsFirstQueue(_RuntimeMutant):
    """Bug: ``stop()`` first lets every ready job run (it drains), then stops."""

    async def stop(self, *, grace_period: float | None = None) -> None:
        engine = self.engine
        if self.routers and not self.stopping:
            await wait_until(
                lambda: not engine.running and not any(g.has_ready() for g in engine.groups),
                timeout=1000,
                poll_interval=0.5,
            )
        await super().stop(grace_period=grace_period)


class _PauseLeaksOneEngine(QueueEngine):
    """An engine whose claims honour a new pause only after one more job per group."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.leaked: set[str] = set()
        """Groups that took their one job since the last pause."""

    def set_paused(self, group_name: str | None, paused: bool) -> None:
        if paused:
            self.leaked = set()
        super().set_paused(group_name, paused)

    def leaks(self, group_name: str) -> bool:
        """Whether a claim of ``group_name`` ignores its pause now."""
        return self.is_paused(group_name) and group_name not in self.leaked

    def _leak(self, group_name: str, claim: Callable[[], Any]) -> Any:
        group = self.group(group_name)
        if group is None or not group.has_ready():
            return claim()
        self.leaked.add(group_name)
        saved = (self.paused_queue, set(self.paused_groups), self._paused)
        self.paused_queue, self.paused_groups, self._paused = False, set(), False
        try:
            return claim()
        finally:
            self.paused_queue, self.paused_groups, self._paused = saved

    def claim(self, group_name: str, n: int) -> list[MemoryDelivery]:
        if self.leaks(group_name):
            out: list[MemoryDelivery] = self._leak(
                group_name, lambda: QueueEngine.claim(self, group_name, 1)
            )
            return out
        return super().claim(group_name, n)

    def claim_one(self, group_name: str) -> MemoryDelivery | None:
        if self.leaks(group_name):
            one: MemoryDelivery | None = self._leak(
                group_name, lambda: QueueEngine.claim_one(self, group_name)
            )
            return one
        return super().claim_one(group_name)


class _LeakyGate(PauseGate):
    """A pause gate that lets a group's router claim until the engine has leaked its job."""

    def __init__(self, engine: _PauseLeaksOneEngine) -> None:
        super().__init__()
        self.engine = engine

    def paused(self, group: str) -> bool:
        return super().paused(group) and not self.engine.leaks(group)


class PauseLetsOneThroughQueue(_RuntimeMutant):
    """Bug: a pause takes effect one job late: each group paused (or every group, for the
    whole queue) still starts the next job that is ready."""

    def __init__(self, name: str, config: InMemoryQueueConfig) -> None:
        super().__init__(name, config)
        storage = self.storage
        assert isinstance(storage, MemoryStorage)
        old = storage.engine
        engine = _PauseLeaksOneEngine(
            name=old.name, max_queue_size=old.max_queue_size, clock=old.clock
        )
        storage.engine = engine
        self.pause_gate = _LeakyGate(engine)


class CancelReleasesRunningEngine(QueueEngine):
    """Bug: cancelling a running job gives its delivery back, as a stop's grace period
    does: the job is ready again in that group and runs again."""

    def cancel(self, job_id: str) -> tuple[int, list[MemoryDelivery]]:
        record = self.get(job_id)
        removed, running = super().cancel(job_id)
        if running and record is not None:
            record.dropped = False
            self._index[job_id] = record
        return removed, running

    def cancel_delivery(self, delivery: MemoryDelivery) -> None:
        self.release(delivery)


def _runtime_mutant(queue_type: type[_RuntimeMutant]) -> MakeQueue:
    def make(
        name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        config = InMemoryQueueConfig(
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )
        return queue_type(name, config)

    return make


def _engine_mutant(engine_type: type[QueueEngine]) -> MakeQueue:
    def make(
        name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        return make_mutant_queue(
            engine_type,
            name,
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )

    return make


@attrs.frozen
class Mutant:
    """One deliberately broken backend."""

    name: str
    area: str
    bug: str
    make: MakeQueue
    caught_by: tuple[str, ...]
    """Conformance tests that fail against it (at least these; others may too)."""


def _mutant(
    name: str,
    area: str,
    broken: type[QueueEngine | _RuntimeMutant],
    *caught_by: str,
) -> Mutant:
    doc = (broken.__doc__ or "").replace("Bug: ", "", 1)
    bug = " ".join(doc.split())
    if issubclass(broken, QueueEngine):
        return Mutant(name, area, bug, _engine_mutant(broken), caught_by)
    return Mutant(name, area, bug, _runtime_mutant(broken), caught_by)


_MUTANT_LIST = [
    # ordering and priorities
    _mutant(
        "lifo",
        "ordering",
        LifoEngine,
        "test_priority_then_fifo_for_jobs_waiting_for_the_first_group",
        "test_priority_then_fifo_while_the_consumer_is_busy",
        "test_delayed_jobs_are_ordered_by_when_they_became_available",
    ),
    _mutant(
        "ties-by-id",
        "ordering",
        TiesByIdEngine,
        "test_fifo_within_a_priority_whatever_the_ids",
    ),
    _mutant(
        "enqueue-order-not-availability",
        "ordering",
        EnqueueOrderEngine,
        "test_delayed_jobs_are_ordered_by_when_they_became_available",
    ),
    _mutant(
        "retry-loses-priority",
        "ordering",
        RetryLosesPriorityEngine,
        "test_retried_job_keeps_its_priority",
    ),
    # delays and the multiplier
    _mutant(
        "ignores-multiplier",
        "delays",
        IgnoresMultiplierQueue,
        "test_delay_multiplier_scales_delays_backoff_and_intervals",
    ),
    # dedup
    _mutant(
        "no-dedup",
        "dedup",
        NoDedupEngine,
        "test_dedup_while_waiting_for_the_first_group",
        "test_dedup_while_delayed",
        "test_dedup_while_running_then_free_again",
        "test_dedup_while_in_retry_backoff",
        "test_dedup_holds_until_every_group_is_done",
    ),
    _mutant(
        "dedup-forgets-at-first-ack",
        "dedup",
        DedupForgetsAtFirstAckEngine,
        "test_dedup_holds_until_every_group_is_done",
    ),
    _mutant(
        "dedup-ignores-delayed",
        "dedup",
        DedupIgnoresDelayedEngine,
        "test_dedup_while_delayed",
    ),
    # groups
    _mutant(
        "no-broadcast",
        "groups",
        NoBroadcastEngine,
        "test_every_group_gets_every_job",
        "test_failures_in_one_group_never_affect_another",
    ),
    _mutant(
        "delayed-go-to-late-groups",
        "groups",
        DelayedGoToLateGroupsEngine,
        "test_group_created_later_misses_earlier_jobs",
    ),
    _mutant(
        "delayed-orphans-lost",
        "groups",
        DelayedOrphansLostEngine,
        "test_delayed_job_without_groups_goes_to_the_first_group",
    ),
    # round-robin
    _mutant(
        "last-consumer-wins",
        "round-robin",
        LastConsumerWinsQueue,
        "test_competing_consumers_share_a_group_round_robin",
        "test_retries_go_to_the_next_consumer_of_the_group",
    ),
    # retries and backoff
    _mutant(
        "shared-retry-counter",
        "retries",
        SharedRetryCounterEngine,
        "test_attempts_count_only_the_groups_own_retries",
    ),
    _mutant(
        "fixed-backoff",
        "retries",
        FixedBackoffEngine,
        "test_retry_backoff_doubles_until_max_retries",
    ),
    _mutant(
        "backoff-off-by-one",
        "retries",
        BackoffOffByOneEngine,
        "test_retry_backoff_doubles_until_max_retries",
        "test_retries_and_attempts_are_per_group",
    ),
    _mutant(
        "one-retry-too-many",
        "retries",
        OneRetryTooManyEngine,
        "test_retry_backoff_doubles_until_max_retries",
        "test_max_retries_zero_runs_once",
    ),
    # concurrency
    _mutant(
        "concurrency-off-by-one",
        "concurrency",
        ConcurrencyOffByOneQueue,
        "test_concurrency_limits_running_handlers",
    ),
    # recurring
    _mutant(
        "interval-first-tick-late",
        "recurring",
        FirstTickLateEngine,
        "test_interval_job_runs_after_start_delay_then_on_a_grid",
        "test_interval_job_without_start_delay_fires_at_once",
    ),
    _mutant(
        "redeclare-replaces",
        "recurring",
        RedeclareReplacesEngine,
        "test_identical_redeclaration_changes_nothing",
    ),
    _mutant(
        "cancel-keeps-occurrences",
        "recurring",
        CancelKeepsOccurrencesEngine,
        "test_cancel_recurring_drops_unstarted_occurrences",
        "test_rescheduling_replaces_and_drops_unstarted_occurrences",
    ),
    _mutant(
        "cron-skips-ticks",
        "recurring",
        CronSkipsTicksEngine,
        "test_cron_job_fires_on_the_minute",
    ),
    # stop and lifetimes
    _mutant(
        "stop-cancels-running",
        "lifetimes",
        StopCancelsRunningQueue,
        "test_stop_waits_for_running_handlers",
    ),
    _mutant(
        "stop-drains-first",
        "lifetimes",
        StopDrainsFirstQueue,
        "test_no_handler_starts_after_stop",
    ),
    # stats
    _mutant(
        "pending-per-group",
        "stats",
        PendingPerGroupEngine,
        "test_pending_counts_distinct_jobs",
    ),
    _mutant(
        "failed-counts-retries",
        "stats",
        FailedCountsRetriesEngine,
        "test_stats_count_failures_per_group",
        "test_retry_backoff_doubles_until_max_retries",
    ),
    _mutant(
        "completed-once-per-job",
        "stats",
        CompletedOncePerJobEngine,
        "test_every_group_gets_every_job",
        "test_stats_follow_deliveries_per_group",
    ),
    # export
    _mutant(
        "export-loses-delayed",
        "export",
        ExportLosesDelayedEngine,
        "test_export_pending_after_stop",
    ),
    _mutant(
        "export-loses-backoff",
        "export",
        ExportLosesBackoffEngine,
        "test_export_pending_includes_jobs_in_backoff",
    ),
    # timeouts and the failed-jobs record
    _mutant(
        "job-timeout-not-enforced",
        "timeouts",
        JobTimeoutDroppedEngine,
        "test_the_jobs_own_timeout_wins_over_the_groups",
        "test_a_jobs_timeout_applies_without_a_group_timeout",
    ),
    _mutant(
        "failed-record-keyed-by-job",
        "failed record",
        FailedRecordByJobEngine,
        "test_a_failure_for_good_is_recorded_newest_first",
    ),
    # pause and cancel
    _mutant(
        "pause-lets-one-through",
        "pause",
        PauseLetsOneThroughQueue,
        "test_a_paused_group_starts_nothing_and_its_jobs_accumulate",
        "test_running_handlers_finish_when_their_group_is_paused",
        "test_pausing_the_queue_pauses_every_group_and_groups_joining_later",
    ),
    _mutant(
        "cancel-releases-running",
        "cancel",
        CancelReleasesRunningEngine,
        "test_cancel_a_running_job",
        "test_a_running_job_is_removed_from_the_groups_still_waiting_for_it",
    ),
    # volume
    _mutant(
        "loses-one-in-fifty",
        "volume",
        LosesOneInFiftyEngine,
        "test_every_job_is_delivered_under_volume",
    ),
]

MUTANTS: dict[str, Mutant] = {mutant.name: mutant for mutant in _MUTANT_LIST}
