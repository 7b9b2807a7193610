"""Conformance tests of pause, resume and is_paused, of one group and of the whole queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._recording import RecordingHandler
from ._harness import ConformanceBase, pending_is, starts

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["PauseConformance"]


class PauseConformance(ConformanceBase):
    """``pause``, ``resume`` and ``is_paused``.

    - A paused group starts no new delivery; handlers already running finish; enqueues,
      start delays and retry backoffs go on, so its jobs accumulate as pending. Other
      groups are not affected. ``resume`` lets the group take them, in delivery order,
      from the moment it is resumed.
    - ``pause()`` (no group) pauses the whole queue: every group, including a group that
      joins while it is paused. ``resume()`` resumes the queue and every group paused on
      its own; ``resume(g)`` while the queue is paused leaves ``g`` paused.
    - ``is_paused(g)`` is True when ``g`` is paused itself or the whole queue is;
      ``is_paused()`` when the whole queue is.

    Also relies on two groups, start delays and retries.
    """

    async def test_a_paused_group_starts_nothing_and_its_jobs_accumulate(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Group ``a`` paused: ``b`` gets every job, ``a`` none until resumed, then all."""
        a = RecordingHandler[Any]("a")
        b = RecordingHandler[Any]("b")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a")
                await q.consume(b, consumer_group="b")
                await q.pause("a")
                paused = (await q.is_paused("a"), await q.is_paused("b"), await q.is_paused())
                await q.enqueue("low", priority=-1)
                await q.enqueue("first")
                await q.enqueue("high", priority=5)
                await q.enqueue("later", start_delay=5)
                await b.log.wait_for(4)
                await cq.sleep(10)
                held = len(a.log)
                stats = await q.get_stats()
                t_resume = trio.current_time()
                await q.resume("a")
                still = await q.is_paused("a")
                await a.log.wait_for(4)
        assert paused == (True, False, False)
        assert held == 0
        assert stats.pending == 4
        assert still is False
        assert a.log.data == ["high", "first", "later", "low"]
        cq.assert_elapsed(starts(a.log, t_resume)[0], 0)

    async def test_running_handlers_finish_when_their_group_is_paused(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Pausing cancels nothing: the running handler completes, the next waits."""
        rec = RecordingHandler[Any](duration=cq.seconds(5))
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(rec, consumer_group="g")
                await q.enqueue("one")
                await q.enqueue("two")
                await rec.log.wait_for(1)
                await q.pause("g")
                await rec.log.wait_finished(1)
                await cq.sleep(20)
                stats = await q.get_stats()
                await q.resume("g")
                await rec.log.wait_finished(2)
        assert rec.log.cancelled == []
        assert (stats.completed, stats.pending, stats.processing) == (1, 1, 0)
        assert rec.log.data == ["one", "two"]

    async def test_pausing_the_queue_pauses_every_group_and_groups_joining_later(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``pause()``: no group starts anything, a group joining meanwhile neither."""
        a = RecordingHandler[Any]("a")
        late = RecordingHandler[Any]("late")
        with cq.fail_after():
            async with cq.queue(concurrency=1) as q:
                await q.consume(a, consumer_group="a")
                await q.pause()
                await q.consume(late, consumer_group="late")
                flags = (
                    await q.is_paused(),
                    await q.is_paused("a"),
                    await q.is_paused("late"),
                    await q.is_paused("never-seen"),
                )
                await q.enqueue("x")
                await q.enqueue("d", start_delay=3)
                await cq.sleep(10)
                held = (len(a.log), len(late.log))
                pending = (await q.get_stats()).pending
                t_resume = trio.current_time()
                await q.resume()
                after = (await q.is_paused(), await q.is_paused("a"), await q.is_paused("late"))
                await a.log.wait_for(2)
                await late.log.wait_for(2)
        assert flags == (True, True, True, True)
        assert held == (0, 0)
        assert pending == 2
        assert after == (False, False, False)
        assert a.log.data == ["x", "d"]
        assert late.log.data == ["x", "d"]
        cq.assert_times(starts(a.log, t_resume)[:1], [0])

    async def test_resuming_the_queue_resumes_groups_paused_on_their_own(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """``resume()`` undoes every pause; ``resume(g)`` under a paused queue does not."""
        a = RecordingHandler[Any]("a")
        b = RecordingHandler[Any]("b")
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(a, consumer_group="a")
                await q.consume(b, consumer_group="b")
                await q.pause("a")
                await q.pause()
                await q.resume("b")
                under_queue = (await q.is_paused("a"), await q.is_paused("b"))
                await q.enqueue("x")
                await cq.sleep(5)
                held = (len(a.log), len(b.log))
                await q.resume()
                flags = (await q.is_paused(), await q.is_paused("a"), await q.is_paused("b"))
                await a.log.wait_for(1)
                await b.log.wait_for(1)
                await cq.wait_until(pending_is(q, 0))
        assert under_queue == (True, True)
        assert held == (0, 0)
        assert flags == (False, False, False)

    async def test_retries_and_delays_go_on_while_paused(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A backoff and a start delay that end during a pause run at once on resume."""
        rec = RecordingHandler[Any](fail_when=lambda job: job.data == "r" and job.attempts == 0)
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(rec, consumer_group="g", max_retries=2)
                await q.enqueue("r")
                await rec.log.wait_finished(1)
                await q.pause("g")
                await q.enqueue("d", start_delay=4)
                await cq.sleep(20)
                held = len(rec.log)
                pending = (await q.get_stats()).pending
                t_resume = trio.current_time()
                await q.resume("g")
                await rec.log.wait_finished(3)
        assert held == 1
        assert pending == 2
        assert [(j.data, j.attempts) for j in rec.log.jobs[1:]] == [("r", 1), ("d", 0)]
        cq.assert_times(starts(rec.log, t_resume)[1:], [0, 0])
