"""stop(grace_period=...): handlers still running once it has passed are cancelled and their
deliveries released (in memory: pending again, so export_pending returns them)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob


class _Outcomes:
    """An instrument that records each delivery's outcome."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def delivery_finished(
        self, queue: object, group: str, job: QueueJob[Any], outcome: str, duration: float
    ) -> None:
        self.seen.append((job.id, outcome))


async def test_grace_period_cancels_hung_handlers_and_releases_their_jobs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A hung handler is cancelled once the grace period has passed; its job is pending
    again (not an attempt, not a failure), a handler that finishes in time is acked."""
    outcomes = _Outcomes()
    queue: InMemoryQueue[str] = InMemoryQueue(
        "q", InMemoryQueueConfig(concurrency=4), instruments=[outcomes]
    )
    cancelled: list[str] = []
    started = 0
    all_started = trio.Event()

    async def handler(job: QueueJob[str]) -> None:
        nonlocal started
        started += 1
        if started == 3:
            all_started.set()
        try:
            await trio.sleep(2 if job.data == "quick" else math.inf)
        except trio.Cancelled:
            cancelled.append(job.id)
            raise

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue("hung", job_id="a", priority=2)
            await queue.enqueue("hung", job_id="b", priority=1)
            await queue.enqueue("quick", job_id="c")
            await all_started.wait()
            began = trio.current_time()
            await queue.stop(grace_period=5)
            assert trio.current_time() - began == pytest.approx(5)
    assert sorted(cancelled) == ["a", "b"]
    assert sorted(queue.interrupted_deliveries) == [("a", "g"), ("b", "g")]
    stats = await queue.get_stats()
    assert (stats.completed, stats.failed, stats.processing, stats.pending) == (1, 0, 0, 2)
    assert sorted(outcomes.seen) == [("a", "released"), ("b", "released"), ("c", "completed")]
    pending = await queue.export_pending()
    assert [(job.id, job.remaining_delay) for job in pending] == [("a", 0.0), ("b", 0.0)]


async def test_handlers_that_finish_within_the_grace_period_are_not_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop(grace_period=...) returns as soon as the handlers are done."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    done: list[int] = []
    running = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        running.set()
        await trio.sleep(1)
        done.append(job.data)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue(1)
            await running.wait()
            began = trio.current_time()
            await queue.stop(grace_period=30)
            assert trio.current_time() - began == pytest.approx(1)
    assert done == [1]
    assert queue.interrupted_deliveries == []
    assert await queue.export_pending() == []


async def test_a_later_stop_with_a_grace_period_shortens_a_graceful_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop() waits for a hung handler; stop(grace_period=2) from elsewhere ends the wait,
    and the retry count of the released job is kept (attempts unchanged)."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    attempts: list[int] = []
    hung = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        attempts.append(job.attempts)
        if job.attempts == 0:
            raise ValueError("first run fails")
        hung.set()
        await trio.sleep_forever()

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue(1, job_id="j")
            await hung.wait()
            nursery.start_soon(queue.stop)
            await trio.sleep(100)
            assert queue.interrupted_deliveries == []  # stop() alone waits
            began = trio.current_time()
            await queue.stop(grace_period=2)
            assert trio.current_time() - began == pytest.approx(2)
    assert attempts == [0, 1]
    assert queue.interrupted_deliveries == [("j", "g")]
    stats = await queue.get_stats()
    assert (stats.failed, stats.pending) == (0, 1)


async def test_a_handler_that_turns_the_cancellation_into_an_error_is_still_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler that catches the cancellation and raises an error is not retried."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    running = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        running.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            raise RuntimeError("interrupted") from None

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            await queue.consume(handler, consumer_group="g", max_retries=0)
            await queue.enqueue(1, job_id="j")
            await running.wait()
            await queue.stop(grace_period=0)
    stats = await queue.get_stats()
    assert (stats.failed, stats.pending) == (0, 1)
    assert [job.id for job in await queue.export_pending()] == ["j"]


@pytest.mark.parametrize("bad", [-1, math.nan, True, "5"])
async def test_a_bad_grace_period_raises_and_changes_nothing(
    bad: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """A grace period that is not None or a number >= 0 raises ValueError; the queue runs on."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    seen: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        seen.append(job.data)

    with trio.fail_after(60):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            with pytest.raises(ValueError, match="grace_period must be None or a number"):
                await queue.stop(grace_period=bad)
            await queue.enqueue(1)
            await trio.sleep(1)
    assert seen == [1]
