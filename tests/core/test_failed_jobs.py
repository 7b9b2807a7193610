"""The failed-jobs record on the in-memory backend, directly and through a QueueProxy."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors._state.engine import QueueEngine
from tests import failed_scenarios
from tests.manager.conftest import SecondMemoryPlugin


def _queue(**config: Any) -> InMemoryQueue[Any]:
    return InMemoryQueue("failing", InMemoryQueueConfig(delay_multiplier=0.01, **config))


async def test_record_filter_and_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with _queue() as queue:
        await failed_scenarios.record_filter_and_limit(queue)


async def test_max_failed_jobs_drops_the_oldest(autojump_clock: trio.testing.MockClock) -> None:
    async with _queue(max_failed_jobs=3) as queue:
        await failed_scenarios.bound_keeps_the_newest(queue, 3)


async def test_max_failed_jobs_zero_keeps_none(autojump_clock: trio.testing.MockClock) -> None:
    async def fail(job: QueueJob[Any]) -> None:
        raise RuntimeError("no")

    async with _queue(max_failed_jobs=0) as queue:
        await queue.consume(fail, consumer_group="g", max_retries=0)
        await queue.enqueue(1)
        await trio.sleep(1)
        assert (await queue.get_stats()).failed == 1
        assert await queue.get_failed_jobs() == []


async def test_retry_runs_in_that_group_only(autojump_clock: trio.testing.MockClock) -> None:
    async with _queue() as queue:
        await failed_scenarios.retry_runs_in_that_group_only(queue)


async def test_drop_by_group_and_all(autojump_clock: trio.testing.MockClock) -> None:
    async with _queue() as queue:
        await failed_scenarios.drop_by_group_and_all(queue)


async def test_a_later_failure_replaces_the_entry(autojump_clock: trio.testing.MockClock) -> None:
    """One entry per job and group: a retried job that fails again is recorded once, as
    the newest entry, with the attempts of its new run."""

    async def fail(job: QueueJob[Any]) -> None:
        raise RuntimeError(f"no {job.id}")

    async with _queue() as queue:
        await queue.consume(fail, consumer_group="g", max_retries=1)
        await queue.enqueue(1, job_id="old")
        await trio.sleep(5)
        await queue.enqueue(2, job_id="new")
        await trio.sleep(5)
        assert await queue.retry_failed_job("old", consumer_group="g")
        await trio.sleep(5)
        failed = await queue.get_failed_jobs()
        assert [(f.job_id, f.attempts) for f in failed] == [("old", 1), ("new", 1)]
        assert (await queue.get_stats()).failed == 3


async def test_retry_while_another_group_still_owes_the_job(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A job failed in one group while another still holds it: the retry joins the live
    job, and both groups finish it once."""
    gate = trio.Event()
    runs: list[tuple[str, int]] = []

    async def fail(job: QueueJob[Any]) -> None:
        runs.append(("a", job.attempts))
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    async def slow(job: QueueJob[Any]) -> None:
        await gate.wait()
        runs.append(("b", job.attempts))

    async with _queue() as queue:
        await queue.consume(fail, consumer_group="a", max_retries=0)
        await queue.consume(slow, consumer_group="b")
        await queue.enqueue("x", job_id="j")
        await trio.sleep(1)
        assert queue.engine.get("j") is not None  # b still owes it
        assert await queue.retry_failed_job("j", consumer_group="a")
        await trio.sleep(1)
        gate.set()
        await trio.sleep(1)
        assert runs == [("a", 0), ("a", 0), ("b", 0)]
        assert queue.engine.get("j") is None
        stats = await queue.get_stats()
        assert (stats.pending, stats.processing, stats.completed) == (0, 0, 2)


async def test_the_record_through_a_queue_proxy(autojump_clock: trio.testing.MockClock) -> None:
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    async with open_queue_manager(registry, default_config={"delay_multiplier": 0.01}) as manager:
        await failed_scenarios.record_filter_and_limit(manager.get_queue("p1"))
        await failed_scenarios.retry_runs_in_that_group_only(manager.get_queue("p2"))
        await failed_scenarios.drop_by_group_and_all(manager.get_queue("p3"))


async def test_a_switch_warns_that_the_record_stays_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The record does not move with a switch: the result says so, with its size."""

    async def fail(job: QueueJob[Any]) -> None:
        raise RuntimeError("no")

    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    registry.register(SecondMemoryPlugin())
    async with open_queue_manager(registry, default_config={"delay_multiplier": 0.01}) as manager:
        proxy = manager.get_queue("q")
        await proxy.consume(fail, consumer_group="g", max_retries=0)
        await proxy.enqueue(1)
        await proxy.enqueue(2)
        await trio.sleep(1)
        assert len(await proxy.get_failed_jobs()) == 2
        result = await manager.set_active_backend("memory2", {"delay_multiplier": 0.01})
        assert result.success
        assert any("failed-jobs record (2 entries) was not moved" in w for w in result.warnings)
        assert await proxy.get_failed_jobs() == []
        quiet = await manager.set_active_backend("memory", {"delay_multiplier": 0.01})
        assert not any("failed-jobs" in w for w in quiet.warnings)


def test_the_engine_records_a_failure_with_the_clock_passed_in() -> None:
    """Sans-IO: the engine times an entry with the ``now`` it is given."""
    from datetime import UTC, datetime, timedelta

    class Clock:
        def to_wall(self, trio_time: float) -> datetime:
            return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=trio_time)

        def to_trio(self, wall: datetime) -> float:
            return (wall - datetime(2024, 1, 1, tzinfo=UTC)).total_seconds()

    engine = QueueEngine(name="e", max_queue_size=10, clock=Clock(), max_failed_jobs=2)
    engine.add_group("g", 0)
    for i in range(3):
        wall = Clock().to_wall(i)
        engine.enqueue(job_id=f"j{i}", data=i, priority=0, delay=0, now=i, timestamp=wall)
        (delivery,) = engine.claim("g", 1)
        engine.fail(delivery, "E: " + "x" * 5000, now=10 + i)
    entries = engine.failed_jobs(None, 10)
    assert [e.job_id for e in entries] == ["j2", "j1"]
    assert entries[0].failed_at == Clock().to_wall(12)
    assert len(entries[0].error) == 4000
    assert engine.failed == 3
