"""The sans-IO QueueEngine against a naive list model (Hypothesis stateful test).

Checks after every step: per-group claim order (priority, then availability time,
then enqueue order), per-group retries with the ``2 ** attempt`` backoff, dedup while a
job is anywhere in the queue, the pending count, and that a job's state is freed
once every group is done with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from checkqueue_actors import QueueFullError
from checkqueue_actors._state import policy
from checkqueue_actors._state.engine import MemoryDelivery, QueueEngine
from checkqueue_actors._storage import ScheduleSpec

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """trio time t maps to EPOCH + t."""

    def to_wall(self, trio_time: float) -> datetime:
        return EPOCH + timedelta(seconds=trio_time)

    def to_trio(self, wall: datetime) -> float:
        return (wall - EPOCH).total_seconds()


@attrs.define
class ModelJob:
    id: str
    priority: int
    seq: int
    groups: dict[str, str] = attrs.field(factory=dict[str, str])
    """group -> "waiting" | "running" | "done"."""


@attrs.define
class ModelEntry:
    key: tuple[int, float, int]
    job_id: str
    attempts: int


MULTIPLIER = 0.5
MAX_RETRIES = {"a": 0, "b": 1, "c": 2}


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = QueueEngine(name="q", max_queue_size=8, clock=FakeClock())
        self.now = 0.0
        self.seq = 0
        self.jobs: dict[str, ModelJob] = {}
        self.groups: list[str] = []
        # per group: entries waiting (ready when key[1] <= now)
        self.waiting: dict[str, list[ModelEntry]] = {}
        self.orphans: list[ModelEntry] = []
        self.running: list[tuple[MemoryDelivery, ModelEntry]] = []
        self.completed = 0
        self.failed = 0

    def _pending(self) -> int:
        return sum(1 for job in self.jobs.values() if "waiting" in job.groups.values()) + len(
            {e.job_id for e in self.orphans}
        )

    @rule(
        job_id=st.sampled_from(["j1", "j2", "j3", "j4", None]),
        priority=st.integers(-2, 2),
        delay=st.sampled_from([0.0, 0.0, 1.0, 2.5]),
    )
    def enqueue(self, job_id: str | None, priority: int, delay: float) -> None:
        self.seq += 1
        the_id = job_id if job_id is not None else f"auto{self.seq}"
        in_queue = the_id in self.jobs or any(e.job_id == the_id for e in self.orphans)
        full = self._pending() >= 8
        try:
            added = self.engine.enqueue(
                job_id=the_id,
                data=the_id,
                priority=priority,
                delay=delay,
                now=self.now,
                timestamp=FakeClock().to_wall(self.now),
            )
        except QueueFullError:
            assert full
            assert not in_queue
            return
        assert added == (not in_queue)
        assert not (added and full)
        if not added:
            return
        seq = self.engine.get(the_id).seq  # type: ignore[union-attr]
        entry = ModelEntry((-priority, self.now + delay, seq), the_id, 0)
        if not self.groups:
            self.orphans.append(entry)
            return
        job = ModelJob(the_id, priority, seq)
        self.jobs[the_id] = job
        for group in self.groups:
            job.groups[group] = "waiting"
            self.waiting[group].append(attrs.evolve(entry))

    @rule(group=st.sampled_from(["a", "b", "c"]))
    def add_consumer(self, group: str) -> None:
        self.engine.add_group(group, MAX_RETRIES[group])
        if group in self.groups:
            return
        first = not self.groups
        self.groups.append(group)
        self.waiting[group] = []
        if first:
            for entry in self.orphans:
                job = ModelJob(entry.job_id, -entry.key[0], entry.key[2], {group: "waiting"})
                self.jobs[entry.job_id] = job
                self.waiting[group].append(entry)
            self.orphans = []

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.engine.advance(self.now)

    @precondition(lambda self: bool(self.groups))
    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        group_name = data.draw(st.sampled_from(self.groups))
        ready = [e for e in self.waiting[group_name] if e.key[1] <= self.now]
        delivery = self.engine.claim_one(group_name)
        if not ready:
            assert delivery is None
            return
        best = min(ready, key=lambda e: e.key)
        assert delivery is not None
        assert delivery.record.id == best.job_id, (delivery.key, best.key)
        assert delivery.attempts == best.attempts
        self.waiting[group_name].remove(best)
        self.jobs[best.job_id].groups[group_name] = "running"
        self.running.append((delivery, best))

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data(), succeed=st.booleans())
    def finish(self, data: st.DataObject, succeed: bool) -> None:
        index = data.draw(st.integers(0, len(self.running) - 1))
        delivery, entry = self.running.pop(index)
        group = delivery.group
        job = self.jobs[entry.job_id]
        if succeed:
            self.engine.ack(delivery)
            self.completed += 1
            job.groups[group] = "done"
        else:
            # the runtime decides with the policy; the engine stores the decision
            due = None
            if policy.should_retry(delivery.attempts, delivery.max_retries):
                delay = policy.retry_delay(delivery.attempts + 1, MULTIPLIER)
                due = self.engine.retry(delivery, self.now, delay)
            else:
                self.engine.fail(delivery, "boom", self.now)
            if entry.attempts < MAX_RETRIES[group]:
                attempt = entry.attempts + 1
                expected_due = self.now + 2**attempt * MULTIPLIER
                assert due == expected_due
                self.waiting[group].append(
                    ModelEntry((entry.key[0], expected_due, entry.key[2]), entry.job_id, attempt)
                )
                job.groups[group] = "waiting"
            else:
                assert due is None
                self.failed += 1
                job.groups[group] = "done"
        if all(state == "done" for state in job.groups.values()):
            del self.jobs[entry.job_id]

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.running) - 1))
        delivery, entry = self.running.pop(index)
        self.engine.release(delivery)
        self.waiting[delivery.group].append(entry)
        self.jobs[entry.job_id].groups[delivery.group] = "waiting"

    @rule(job_id=st.sampled_from(["j1", "j2", "j3", "j4"]))
    def cancel(self, job_id: str) -> None:
        """Cancel a job wherever it is: an orphan, waiting in groups, or running (whose
        deliveries then end as the runtime ends a cancelled handler)."""
        waited, running = self.engine.cancel(job_id)
        orphans = [e for e in self.orphans if e.job_id == job_id]
        job = self.jobs.pop(job_id, None)
        expected_waited = len(orphans)
        if job is not None:
            expected_waited += sum(1 for state in job.groups.values() if state == "waiting")
            for group in job.groups:
                self.waiting[group] = [e for e in self.waiting[group] if e.job_id != job_id]
        assert waited == expected_waited
        self.orphans = [e for e in self.orphans if e.job_id != job_id]
        ours = [(d, e) for d, e in self.running if e.job_id == job_id]
        assert {id(d) for d in running} == {id(d) for d, _ in ours}
        self.running = [(d, e) for d, e in self.running if e.job_id != job_id]
        for delivery in running:
            self.engine.cancel_delivery(delivery)

    @invariant()
    def ready_sets_hold_what_is_due(self) -> None:
        """Each group's ready set (and the orphans' while no group exists) holds exactly
        the waiting jobs whose time has come."""
        for group in self.groups:
            state = self.engine.group(group)
            assert state is not None
            due = [e for e in self.waiting[group] if e.key[1] <= self.now]
            assert state.ready_live == len(due)
        due_orphans = [e for e in self.orphans if e.key[1] <= self.now]
        assert self.engine._orphan_ready.live == len(due_orphans)  # pyright: ignore[reportPrivateUsage]

    @invariant()
    def counters_agree(self) -> None:
        stats = self.engine.stats()
        assert stats.consumer_groups == len(self.groups)
        assert stats.pending == self._pending()
        assert stats.processing == len(self.running)
        assert stats.completed == self.completed
        assert stats.failed == self.failed

    @invariant()
    def state_is_freed(self) -> None:
        live = set(self.jobs) | {e.job_id for e in self.orphans}
        assert {job_id for job_id in live if self.engine.get(job_id) is not None} == live
        assert len(self.engine._index) == len(live)  # pyright: ignore[reportPrivateUsage]


TestEngineMachine = EngineMachine.TestCase


def _engine(**kwargs: Any) -> QueueEngine:
    return QueueEngine(
        name="q", max_queue_size=kwargs.get("max_queue_size", 100), clock=FakeClock()
    )


def _interval(job_id: str, seconds: float) -> ScheduleSpec:
    return ScheduleSpec(
        job_id=job_id,
        data="x",
        priority=0,
        interval_seconds=seconds,
        cron=None,
        first_delay=0.0,
        step=seconds,
    )


def test_delayed_jobs_order_by_availability_then_enqueue_order() -> None:
    """A delayed job that became available earlier goes before a later immediate one."""
    engine = _engine()
    engine.add_group("g", 0)
    engine.enqueue(job_id="late", data=0, priority=0, delay=5, now=0, timestamp=EPOCH)
    engine.enqueue(job_id="early", data=0, priority=0, delay=2, now=1, timestamp=EPOCH)
    engine.advance(6)
    engine.enqueue(job_id="now", data=0, priority=0, delay=0, now=6, timestamp=EPOCH)
    order: list[str] = []
    while (delivery := engine.claim_one("g")) is not None:
        order.append(delivery.record.id)
    assert order == ["early", "late", "now"]


def test_enqueue_fills_each_field_of_the_record() -> None:
    """``enqueue`` builds its record positionally (once per job): each field holds what
    its name says, the defaults of a new record included."""
    engine = _engine()
    engine.add_group("a", 0)
    engine.add_group("b", 0)
    stamp = EPOCH + timedelta(seconds=3)
    headers = {"h": "v"}
    assert engine.enqueue(
        job_id="j",
        data={"d": 1},
        priority=7,
        delay=2.5,
        now=10.0,
        timestamp=stamp,
        timeout=4.0,
        headers=headers,
    )
    record = engine.get("j")
    assert record is not None
    assert (record.id, record.data, record.priority, record.timestamp) == (
        "j",
        {"d": 1},
        7,
        stamp,
    )
    assert record.seq > 0
    assert record.available_at == 12.5
    assert record.groups == tuple(engine.groups)
    assert (record.waiting, record.remaining) == (2, 2)
    assert record.delayed is True
    assert record.claims == 0
    assert record.dropped is False
    assert record.reserved == ()
    assert record.schedule is None
    assert record.timeout == 4.0
    assert record.headers == headers
    assert record.done == ()
    assert record.job is None
    engine.enqueue(job_id="k", data=0, priority=0, delay=0, now=10.0, timestamp=EPOCH)
    other = engine.get("k")
    assert other is not None
    assert other.delayed is False
    assert other.seq > record.seq


def test_memory_is_released_after_many_jobs() -> None:
    """After 10k jobs through two groups, no per-job state is left."""
    engine = _engine(max_queue_size=20_000)
    for name in ("a", "b"):
        engine.add_group(name, 1)
    groups = list(engine.groups)
    for i in range(10_000):
        engine.enqueue(job_id=f"j{i}", data=i, priority=i % 3, delay=0, now=0, timestamp=EPOCH)
    for group in groups:
        while (delivery := engine.claim_one(group.name)) is not None:
            engine.ack(delivery)
    assert engine.pending == 0
    assert len(engine._index) == 0  # pyright: ignore[reportPrivateUsage]
    assert all(not g.ready and not g.attempts and not g.retrying for g in groups)


@pytest.mark.parametrize("count", [1, 100])
def test_cancelled_schedule_drops_unstarted_occurrences(count: int) -> None:
    """Cancelling a recurring job drops its waiting occurrences and frees their state."""
    engine = _engine(max_queue_size=1000)
    engine.add_group("g", 0)
    engine.schedule(_interval("r", 1.0), now=0)
    for t in range(count):
        engine.advance(float(t))
    assert engine.pending == count
    engine.cancel_schedule("r")
    assert engine.pending == 0
    assert engine.claim_one("g") is None
    assert len(engine._index) == 0  # pyright: ignore[reportPrivateUsage]


def test_cancel_drops_an_occurrence_given_back_unrun() -> None:
    """An occurrence claimed and released unrun (stop before its handler began) counts as
    not started, so cancelling its schedule drops it."""
    engine = _engine()
    engine.add_group("g", 0)
    engine.schedule(_interval("r", 10.0), now=0)
    engine.advance(0.0)
    delivery = engine.claim_one("g")
    assert delivery is not None
    record = delivery.record
    assert record.claims == 1
    engine.release(delivery)
    assert record.claims == 0
    engine.cancel_schedule("r")
    assert engine.pending == 0
    assert engine.claim_one("g") is None
    assert len(engine._index) == 0  # pyright: ignore[reportPrivateUsage]
