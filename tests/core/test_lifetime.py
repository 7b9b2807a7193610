"""Lifetimes and supervision of an in-memory queue."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    QueueJob,
    QueueStoppedError,
)


async def test_nursery_start_runs_inside_the_callers_nursery(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``await nursery.start(queue.run)`` returns once calls work; run() ends after stop()."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    seen: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        seen.append(job.data)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue(1)
            await trio.sleep(1)
            await queue.stop()
    assert seen == [1]


async def test_body_exception_leaves_unwrapped(autojump_clock: trio.testing.MockClock) -> None:
    """An exception from the ``async with`` body comes out as itself, not an ExceptionGroup."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    with pytest.raises(KeyError, match="boom") as info, trio.fail_after(10):
        async with queue:
            await queue.enqueue(1)
            raise KeyError("boom")
    assert not isinstance(info.value, BaseExceptionGroup)
    with pytest.raises(QueueStoppedError):
        await queue.enqueue(2)


async def test_reentry_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    """A queue runs once: entering it again raises RuntimeError saying why, whether it
    is running or has been stopped (not "already running" for a stopped one)."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    with trio.fail_after(10):
        async with queue:
            with pytest.raises(RuntimeError, match="InMemoryQueue 'q' is already running"):
                await queue.__aenter__()
            async with trio.open_nursery() as nursery:
                with pytest.raises(RuntimeError, match="already running"):
                    await nursery.start(queue.run)
        for _ in range(2):
            with pytest.raises(RuntimeError) as info:
                async with queue:
                    pass
            assert "has been stopped: a queue runs once" in str(info.value)
            assert "already running" not in str(info.value)
            async with trio.open_nursery() as nursery:
                with pytest.raises(RuntimeError, match="has been stopped: a queue runs once"):
                    await nursery.start(queue.run)


async def test_a_call_to_a_queue_never_started_warns_after_a_second(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A call waiting on a queue nobody started keeps waiting, but a WARNING (once per
    queue) names the queue and how to start it; a start in time logs nothing."""
    caplog.set_level(logging.WARNING, logger="checkqueue_actors")
    queue: InMemoryQueue[str] = InMemoryQueue("forgotten")
    prompt: InMemoryQueue[str] = InMemoryQueue("prompt")
    results: list[object] = []

    async def call(target: InMemoryQueue[str]) -> None:
        results.append(await target.enqueue("x"))

    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, prompt)
            await trio.sleep(0.9)
            await nursery.start(prompt.run)  # started in time: no warning for it
            nursery.start_soon(call, queue)
            nursery.start_soon(call, queue)
            await trio.sleep(0.99)
            assert not caplog.records
            await trio.sleep(0.02)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1  # once per queue, however many calls wait
            message = warnings[0].getMessage()
            assert "'forgotten'" in message
            assert "async with queue:" in message
            assert "await nursery.start(queue.run)" in message
            await trio.sleep(60)
            assert len(results) == 1  # still waiting, not failed
            await nursery.start(queue.run)
            await trio.sleep(0.1)
            assert len(results) == 3
            await queue.stop()
            await prompt.stop()
    assert len(caplog.records) == 1


async def test_calls_before_start_wait(autojump_clock: trio.testing.MockClock) -> None:
    """enqueue() and get_stats() called before start wait until the queue runs."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")
    results: list[object] = []

    async def early() -> None:
        results.append(await queue.enqueue("x", job_id="early"))
        results.append((await queue.get_stats()).pending)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(early)
            await trio.sleep(5)
            assert results == []
            await nursery.start(queue.run)
            await trio.sleep(0.1)
            assert results == ["early", 1]
            await queue.stop()


async def test_test_connection_and_stop_never_wait(autojump_clock: trio.testing.MockClock) -> None:
    """test_connection() and stop() return at once on a queue that never started."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")
    with trio.fail_after(1):
        await queue.test_connection()
        await queue.stop()
        await queue.stop()
    with pytest.raises(QueueStoppedError):
        await queue.enqueue("x")
    assert await queue.export_pending() == []


async def test_waiters_of_a_queue_stopped_before_start_get_stopped_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A call waiting for start fails with QueueStoppedError when stop() comes first."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            errors: list[BaseException] = []

            async def early() -> None:
                try:
                    await queue.enqueue("x")
                except QueueStoppedError as exc:
                    errors.append(exc)

            nursery.start_soon(early)
            await trio.sleep(1)
            await queue.stop()
    assert len(errors) == 1


async def test_internal_fault_propagates_out_of_run(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An actor bug is never swallowed: it cancels the queue and leaves ``async with``."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")

    def broken_advance(now: float) -> None:
        raise ZeroDivisionError("scheduler bug")

    with pytest.raises(ZeroDivisionError, match="scheduler bug"), trio.fail_after(10):
        async with queue:
            monkeypatch.setattr(queue.engine, "advance", broken_advance)
            await queue.enqueue(1, start_delay=1)
            await trio.sleep(5)
            pytest.fail("the queue should have been cancelled")


async def test_stop_waits_for_running_handlers_and_starts_no_new_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop(): running handlers finish, pending jobs do not start, stop is idempotent."""
    queue: InMemoryQueue[int] = InMemoryQueue("q", InMemoryQueueConfig(concurrency=1))
    events: list[tuple[str, int, float]] = []

    async def handler(job: QueueJob[int]) -> None:
        events.append(("start", job.data, trio.current_time()))
        await trio.sleep(3)
        events.append(("end", job.data, trio.current_time()))

    with trio.fail_after(30):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            for i in range(3):
                await queue.enqueue(i)
            await trio.sleep(1)
            await queue.stop()
            assert trio.current_time() == 3
            await queue.stop()
    assert events == [("start", 0, 0), ("end", 0, 3)]
    pending = await queue.export_pending()
    assert [p.data for p in pending] == [1, 2]


async def test_stop_from_inside_a_handler_does_not_deadlock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler may call stop() on its own queue; the queue then stops after it returns."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    done: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        await queue.stop()
        await trio.sleep(1)
        done.append(job.data)

    with trio.fail_after(10):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue(7)
            await trio.sleep(5)
    assert done == [7]


async def test_handler_may_enqueue_while_queue_is_stopping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls from a running handler during stop() reach the queue and are kept as pending."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")

    async def handler(job: QueueJob[str]) -> None:
        if job.data == "first":
            await trio.sleep(2)
            await queue.enqueue("follow-up", job_id="f")

    with trio.fail_after(10):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue("first")
            await trio.sleep(1)
    assert [p.id for p in await queue.export_pending()] == ["f"]


async def test_export_pending_requires_stop(autojump_clock: trio.testing.MockClock) -> None:
    """export_pending() on a running queue is a RuntimeError."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")
    with trio.fail_after(10):
        async with queue:
            with pytest.raises(RuntimeError, match="needs a stopped queue"):
                await queue.export_pending()


async def test_hard_cancel_returns_interrupted_jobs(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling the queue's nursery interrupts handlers; their jobs stay pending."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")

    async def handler(job: QueueJob[str]) -> None:
        await trio.sleep_forever()

    with trio.move_on_after(5):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue("stuck", job_id="s")
            await trio.sleep_forever()
    stats = await queue.get_stats()
    assert stats.pending == 1
    assert stats.processing == 0
    assert [p.id for p in await queue.export_pending()] == ["s"]


async def test_unwrapped_body_exception_is_not_chained_to_a_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The unwrapped exception keeps its own context: no ExceptionGroup chained onto it."""
    queue: InMemoryQueue[int] = InMemoryQueue("q")
    with pytest.raises(KeyError) as info:
        async with queue:
            raise KeyError("boom")
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
