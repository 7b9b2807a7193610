"""InMemoryQueue.enqueue_many: all-or-nothing bulk enqueue with every enqueue guarantee."""

from __future__ import annotations

import pytest
import trio

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    QueueFullError,
    QueueJob,
    QueueStoppedError,
)


async def test_returns_ids_in_order_and_dispatches_fifo() -> None:
    seen: list[int] = []
    done = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        seen.append(job.data)
        if len(seen) == 5:
            done.set()

    queue: InMemoryQueue[int] = InMemoryQueue("bulk", InMemoryQueueConfig(concurrency=1))
    async with queue:
        ids = await queue.enqueue_many(range(5))
        assert len(ids) == 5
        assert len(set(ids)) == 5
        assert (await queue.get_stats()).pending == 5
        await queue.consume(handler, consumer_group="g")
        with trio.fail_after(5):
            await done.wait()
    assert seen == [0, 1, 2, 3, 4]


async def test_dedups_against_queue_and_within_batch() -> None:
    queue: InMemoryQueue[str] = InMemoryQueue("bulk")
    async with queue:
        await queue.enqueue("old", job_id="a")
        ids = await queue.enqueue_many(["x", "y", "z"], job_ids=["a", "b", "b"])
        assert ids == ["a", "b", "b"]
        assert (await queue.get_stats()).pending == 2


async def test_bad_arguments_store_nothing() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue("bulk")
    async with queue:
        with pytest.raises(ValueError, match="job_id"):
            await queue.enqueue_many([1, 2], job_ids=["ok", ""])
        with pytest.raises(ValueError, match="entries"):
            await queue.enqueue_many([1, 2], job_ids=["only-one"])
        with pytest.raises(ValueError, match="priority"):
            await queue.enqueue_many([1], priority=True)
        with pytest.raises(ValueError, match="start_delay"):
            await queue.enqueue_many([1], start_delay=-1)
        assert (await queue.get_stats()).pending == 0


async def test_full_queue_stores_nothing() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue("bulk", InMemoryQueueConfig(max_queue_size=3))
    async with queue:
        await queue.enqueue(0, job_id="dup")
        with pytest.raises(QueueFullError):
            await queue.enqueue_many([1, 2, 3])
        assert (await queue.get_stats()).pending == 1
        # a duplicate takes no room
        await queue.enqueue_many([1, 2, 3], job_ids=["dup", None, None])
        assert (await queue.get_stats()).pending == 3


async def test_start_delay_applies_to_every_item(autojump_clock: trio.abc.Clock) -> None:
    started: list[float] = []

    async def handler(job: QueueJob[int]) -> None:
        started.append(trio.current_time())

    queue: InMemoryQueue[int] = InMemoryQueue("bulk")
    async with queue:
        await queue.consume(handler, consumer_group="g")
        t0 = trio.current_time()
        await queue.enqueue_many([1, 2], start_delay=10)
        await trio.sleep(11)
    assert len(started) == 2
    assert all(t - t0 >= 10 for t in started)


async def test_after_stop_raises() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue("bulk")
    async with queue:
        pass
    with pytest.raises(QueueStoppedError):
        await queue.enqueue_many([1])
