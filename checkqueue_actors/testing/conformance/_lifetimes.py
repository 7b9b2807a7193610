"""Conformance tests of a queue's lifetime: start, stop, calls before start and after stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from ..._errors import QueueStoppedError
from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["LifetimesConformance"]


class LifetimesConformance(ConformanceBase):
    """A queue's lifetime: how it starts and stops.

    - ``stop()`` waits for running handlers, starts no new one (waiting jobs stay
      pending), and may be called many times, also concurrently.
    - ``enqueue``, ``consume`` and ``schedule_recurring`` on a stopped queue raise
      ``QueueStoppedError``.
    - A queue runs as ``async with queue`` or in the caller's nursery with
      ``await nursery.start(queue.run)``; ``run`` returns after ``stop()``.
    - An exception raised in the ``async with`` body comes out as itself, not
      wrapped in an exception group.
    - Calls made before the queue starts wait until it has started, except
      ``test_connection`` and ``stop``.

    Also relies on ``export_pending`` (one test reads what stayed pending after ``stop()``)
    and on ``schedule_recurring`` (one test calls it on a stopped queue).
    """

    # -- stop -------------------------------------------------------------------------------

    async def test_stop_waits_for_running_handlers(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``stop()`` returns once the running handler has finished."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                t0 = trio.current_time()
                await q.enqueue("x")
                await rec.log.wait_for(1)
                await cq.sleep(2)
                await q.stop()
                stopped_at = trio.current_time()
                assert rec.log.finished == 1
        cq.assert_elapsed(stopped_at - t0, 10)

    async def test_no_handler_starts_after_stop(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Jobs still waiting when ``stop()`` is called are not started; they stay pending."""
        rec = RecordingHandler[Any](duration=cq.seconds(10))
        with cq.fail_after():
            q = cq.queue(concurrency=1)
            async with q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("first")
                await q.enqueue("second")
                await rec.log.wait_for(1)
                await q.stop()
            await cq.sleep(50)
            exported = await q.export_pending()
        assert rec.log.data == ["first"]
        assert [p.data for p in exported] == ["second"]

    async def test_stop_is_idempotent(self, cq: ConformanceHarness, cq_clock: object) -> None:
        """``stop()`` may be called many times, also concurrently, and before leaving the block."""
        rec = RecordingHandler[Any](duration=cq.seconds(5))
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("x")
                await rec.log.wait_for(1)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(q.stop)
                    nursery.start_soon(q.stop)
                await q.stop()
            await q.stop()
        assert rec.log.finished == 1

    async def test_enqueue_after_stop_raises(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``enqueue`` on a stopped queue raises QueueStoppedError."""
        with cq.fail_after():
            q = cq.queue()
            async with q:
                pass
            with pytest.raises(QueueStoppedError):
                await q.enqueue("late")

    async def test_consume_and_schedule_after_stop_raise(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``consume`` and ``schedule_recurring`` on a stopped queue raise QueueStoppedError."""
        with cq.fail_after():
            q = cq.queue()
            async with q:
                pass
            with pytest.raises(QueueStoppedError):
                await q.consume(RecordingHandler[Any](), consumer_group="g")
            with pytest.raises(QueueStoppedError):
                await q.schedule_recurring("x", job_id="r", interval_seconds=10)

    # -- start ------------------------------------------------------------------------------

    async def test_queue_runs_in_the_callers_nursery(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``await nursery.start(queue.run)`` starts it; ``run`` returns after ``stop()``."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            q = cq.queue()
            async with trio.open_nursery() as nursery:
                await nursery.start(q.run)
                await q.consume(rec, consumer_group="g")
                await q.enqueue("x")
                await rec.log.wait_for(1)
                await q.stop()
            with pytest.raises(QueueStoppedError):
                await q.enqueue("late")
        assert rec.log.data == ["x"]

    async def test_exception_in_the_body_leaves_unwrapped(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """An exception raised in ``async with queue`` comes out as itself, not a group."""

        async def body() -> None:
            async with cq.queue() as q:
                await q.enqueue("x")
                msg = "boom"
                raise KeyError(msg)

        with cq.fail_after(), pytest.raises(KeyError) as info:
            await body()
        assert type(info.value) is KeyError
        assert info.value.args == ("boom",)

    async def test_calls_before_start_wait_until_started(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Methods called before start wait; ``test_connection`` and ``stop`` never wait."""
        rec = RecordingHandler[Any]()
        results: list[str] = []
        q = cq.queue()

        async def early() -> None:
            results.append(await q.enqueue("early", job_id="e"))
            results.append(str((await q.get_stats()).pending))

        with cq.fail_after():
            await q.test_connection()
            unstarted = cq.queue()
            await unstarted.stop()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(early)
                await cq.settle()
                assert results == []
                await nursery.start(q.run)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(1)
                await q.stop()
        assert results[0] == "e"
        assert rec.log.data == ["early"]
