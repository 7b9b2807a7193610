"""Per-job state is freed once every group is done with the job."""

from __future__ import annotations

import trio
import trio.lowlevel
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob


async def test_nothing_is_kept_after_jobs_pass_through(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Broadcast, retries, delays, dedup ids and recurring occurrences leave no state behind."""
    queue: InMemoryQueue[int] = InMemoryQueue(
        "mem", InMemoryQueueConfig(max_queue_size=50_000, delay_multiplier=0.01)
    )
    counts = {"a": 0, "b": 0}

    async def ok(job: QueueJob[int]) -> None:
        counts["a"] += 1

    async def flaky(job: QueueJob[int]) -> None:
        if job.data % 7 == 0 and job.attempts < 2:
            raise RuntimeError("transient")
        counts["b"] += 1

    with trio.fail_after(3600):
        async with queue:
            await queue.consume(ok, consumer_group="a")
            await queue.consume(flaky, consumer_group="b", max_retries=3)
            await queue.schedule_recurring(-1, job_id="r", interval_seconds=1)
            for i in range(5000):
                await queue.enqueue(i, job_id=f"id-{i}", priority=i % 4, start_delay=i % 3)
                if i % 500 == 0:
                    await trio.lowlevel.checkpoint()
            await trio.sleep(60)
            await queue.cancel_recurring("r")
            await trio.sleep(60)
            engine = queue.engine
            stats = await queue.get_stats()
            assert stats.pending == 0
            assert stats.processing == 0
            assert len(engine._index) == 0  # pyright: ignore[reportPrivateUsage]
            assert not list(engine.orphans())
            for group in engine.groups:
                assert group.ready_live == 0
                assert group.retrying == {}
                assert group.attempts == {}
            # every job id is free again: enqueueing it runs it once more
            await queue.enqueue(10_000, job_id="id-0")
            await trio.sleep(1)
    assert counts["a"] >= 5001
    assert counts["b"] == counts["a"]
