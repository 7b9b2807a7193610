"""Conformance tests of enqueueing and delivery: ids, data, argument errors, a full queue."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from ..._errors import QueueFullError
from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["EnqueueConformance"]


class EnqueueConformance(ConformanceBase):
    """Enqueue and delivery: what a consumer receives, and what ``enqueue`` refuses.

    - A consumer receives each job once, with its id (a fresh UUID4, or the
      ``job_id`` given to ``enqueue``, which ``enqueue`` returns), data, priority,
      a UTC ``timestamp`` and ``attempts == 0``.
    - A negative or non-finite ``start_delay``, or a ``priority`` that is not an
      ``int``, is a ``ValueError`` and stores nothing.
    - At ``max_queue_size`` pending jobs (delayed ones included), ``enqueue`` raises
      ``QueueFullError`` and stores nothing, not even the refused job's id.
    """

    async def test_enqueue_then_consume_delivers_the_job(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A consumer receives the job with its id, data, priority, UTC timestamp, 0 attempts."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                job_id = await q.enqueue({"n": 1}, priority=3)
                await rec.log.wait_for(1)
                await cq.settle()
        assert len(rec.log) == 1
        job = rec.log.jobs[0]
        assert job.id == job_id
        assert uuid.UUID(job_id).version == 4
        assert job.data == {"n": 1}
        assert job.priority == 3
        assert job.attempts == 0
        assert job.timestamp.utcoffset() == timedelta(0)
        assert abs(job.timestamp - datetime.now(UTC)) < timedelta(minutes=10)

    async def test_given_job_id_is_returned_and_delivered(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``enqueue(job_id=...)`` returns that id and the job carries it."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g")
                assert await q.enqueue("x", job_id="order-42") == "order-42"
                await rec.log.wait_for(1)
        assert rec.log.ids == ["order-42"]

    async def test_enqueue_rejects_bad_delay_and_priority(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A negative or non-finite delay, or a non-int priority, is a ValueError."""
        with cq.fail_after():
            async with cq.queue() as q:
                for delay in (-1, -0.5, math.inf, math.nan):
                    with pytest.raises(ValueError, match="start_delay"):
                        await q.enqueue("x", start_delay=delay)
                bad_priorities: tuple[Any, ...] = (1.5, "1", True, None)
                for priority in bad_priorities:
                    with pytest.raises(ValueError, match="priority"):
                        await q.enqueue("x", priority=priority)
                stats = await q.get_stats()
        assert stats.pending == 0

    async def test_full_queue_refuses_and_stores_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """At ``max_queue_size`` pending jobs, enqueue raises QueueFullError, storing nothing."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue(max_queue_size=2) as q:
                await q.enqueue("a")
                await q.enqueue("b", start_delay=10)
                with pytest.raises(QueueFullError, match="max_queue_size"):
                    await q.enqueue("c")
                with pytest.raises(QueueFullError, match="max_queue_size"):
                    await q.enqueue("z-refused", job_id="z")
                assert (await q.get_stats()).pending == 2
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
                await cq.settle()
                assert await q.enqueue("z-accepted", job_id="z") == "z"
                await rec.log.wait_for(3)
                await cq.settle()
        assert rec.log.data == ["a", "b", "z-accepted"]
