"""Conformance tests of enqueueing and delivery: ids, data, argument errors, a full queue."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from ..._errors import QueueFullError
from .._recording import DeliveryLog, RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..._model import QueueJob
    from ._harness import ConformanceHarness

__all__ = ["EnqueueConformance"]


class EnqueueConformance(ConformanceBase):
    """Enqueue and delivery: what a consumer receives, and what ``enqueue`` refuses.

    - A consumer receives each job once, with its id (a fresh UUID4, or the
      ``job_id`` given to ``enqueue``, which ``enqueue`` returns), data, priority,
      a UTC ``timestamp`` and ``attempts == 0``.
    - A negative or non-finite ``start_delay``, or a ``priority`` that is not an
      ``int`` or lies outside ``-2**31 .. 2**31-1``, is a ``ValueError`` and stores
      nothing; both ends of that range are accepted (and ordered).
    - At ``max_queue_size`` pending jobs (delayed ones included), ``enqueue`` raises
      ``QueueFullError`` and stores nothing, not even the refused job's id.
    - Under volume (300 jobs, three groups, failures and retries) every job reaches
      every group, exactly as many times as its failures and ``max_retries`` say.
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

    async def test_priority_must_fit_in_32_bits(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A priority outside -2**31 .. 2**31-1 is a ValueError; both ends are accepted."""
        rec = RecordingHandler[Any]()
        with cq.fail_after():
            async with cq.queue() as q:
                for priority in (2**31, -(2**31) - 1, 2**63):
                    with pytest.raises(ValueError, match="priority"):
                        await q.enqueue("x", priority=priority)
                assert (await q.get_stats()).pending == 0
                await q.enqueue("low", priority=-(2**31))
                await q.enqueue("high", priority=2**31 - 1)
                await q.consume(rec, consumer_group="g")
                await rec.log.wait_for(2)
        assert rec.log.data == ["high", "low"]
        assert [j.priority for j in rec.log.jobs] == [2**31 - 1, -(2**31)]

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

    async def test_every_job_is_delivered_under_volume(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """300 jobs (priorities, delays), three groups, failures and retries: every
        delivery is counted and each (job, group) runs exactly as often as it must."""
        count = 300
        logs = {name: DeliveryLog[Any]() for name in ("a", "b", "c")}
        # a retries a job that fails once; b never retries; c retries once, which fails too
        rules: dict[str, tuple[int, int, Callable[[QueueJob[Any]], bool]]] = {
            "a": (2, 2, lambda job: job.data % 7 == 0 and job.attempts == 0),
            "b": (1, 0, lambda job: job.data % 11 == 0),
            "c": (3, 1, lambda job: job.data % 5 == 0),
        }
        runs = {
            "a": Counter({i: 2 if i % 7 == 0 else 1 for i in range(count)}),
            "b": Counter(dict.fromkeys(range(count), 1)),
            "c": Counter({i: 2 if i % 5 == 0 else 1 for i in range(count)}),
        }
        with cq.fail_after():
            async with cq.queue(concurrency=8) as q:
                for name, (consumers, max_retries, fail) in rules.items():
                    for c in range(consumers):
                        handler = RecordingHandler[Any](
                            f"{name}{c}", log=logs[name], fail_when=fail
                        )
                        await q.consume(handler, consumer_group=name, max_retries=max_retries)
                for i in range(count):
                    delay = 5 if i % 10 == 3 else None
                    await q.enqueue(i, priority=i % 3, start_delay=delay)
                for name, log in logs.items():
                    await log.wait_finished(sum(runs[name].values()))
                await cq.sleep(20)
                stats = await q.get_stats()
        for name, log in logs.items():
            assert Counter(log.data) == runs[name], f"group {name!r}"
        failed = sum(1 for i in range(count) if i % 11 == 0) + sum(
            1 for i in range(count) if i % 5 == 0
        )
        assert (stats.pending, stats.processing) == (0, 0)
        assert (stats.completed, stats.failed) == (3 * count - failed, failed)
