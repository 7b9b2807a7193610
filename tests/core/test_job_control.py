"""Pause, inspection and cancellation on the runtime (in-memory, virtual time): the
edges the conformance suite does not reach (handlers that swallow a cancellation, the
worker that ran a cancelled job, slots, instruments, chaining workers, arguments)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob


class Outcomes:
    """An instrument recording ``(job data, group, outcome)`` per finished delivery."""

    def __init__(self) -> None:
        self.finished: list[tuple[Any, str, str]] = []

    def delivery_finished(
        self, queue: Any, group: str, job: QueueJob[Any], outcome: str, duration: float
    ) -> None:
        self.finished.append((job.data, group, outcome))


def _queue(concurrency: int = 1, outcomes: Outcomes | None = None) -> InMemoryQueue[Any]:
    return InMemoryQueue(
        "q",
        InMemoryQueueConfig(concurrency=concurrency),
        instruments=[outcomes] if outcomes else [],
    )


async def test_a_handler_that_swallows_the_cancellation_is_cancelled_all_the_same(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cancelled handler that catches ``trio.Cancelled`` and returns is not counted as
    completed; the next job on the same worker (concurrency 1) runs to the end, not
    hit by the old cancellation."""
    outcomes = Outcomes()
    queue = _queue(outcomes=outcomes)
    ran: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        if job.data == "stubborn":
            try:
                await trio.sleep(100)
            except trio.Cancelled:
                ran.append("swallowed")
                return  # a handler should not do this; the runtime copes
        await trio.sleep(1)
        ran.append(job.data)

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=3)
        stubborn = await queue.enqueue("stubborn", priority=1)
        await queue.enqueue("next")
        await trio.sleep(5)
        assert await queue.cancel_job(stubborn)
        await trio.sleep(5)
        stats = await queue.get_stats()
    assert ran == ["swallowed", "next"]
    assert outcomes.finished == [("stubborn", "g", "cancelled"), ("next", "g", "completed")]
    assert (stats.completed, stats.failed, stats.pending, stats.processing) == (1, 0, 0, 0)


async def test_a_handler_turning_the_cancellation_into_an_error_is_not_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An error raised from the cancellation is not a failure: no retry, no failed entry."""
    outcomes = Outcomes()
    queue = _queue(outcomes=outcomes)
    runs = 0

    async def handler(job: QueueJob[str]) -> None:
        nonlocal runs
        runs += 1
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            raise RuntimeError("cleanup failed") from None

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=3)
        job_id = await queue.enqueue("x")
        await trio.sleep(1)
        assert await queue.cancel_job(job_id)
        await trio.sleep(100)
        assert await queue.get_failed_jobs() == []
        assert await queue.get_job(job_id) is None
        stats = await queue.get_stats()
    assert runs == 1
    assert outcomes.finished == [("x", "g", "cancelled")]
    assert (stats.completed, stats.failed) == (0, 0)


async def test_cancelling_gives_the_slot_back_and_spares_other_groups_finished_work(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With concurrency 1, a cancelled running job frees the slot at once; a job running
    in one group and waiting in another is cancelled in both."""
    queue = _queue()
    started: list[tuple[str, str]] = []

    async def slow(job: QueueJob[str]) -> None:
        started.append((job.data, "a"))
        if job.data == "first":
            await trio.sleep(100)

    async def quick(job: QueueJob[str]) -> None:
        started.append((job.data, "b"))

    async with queue:
        await queue.pause("b")
        await queue.consume(slow, consumer_group="a", max_retries=0)
        await queue.consume(quick, consumer_group="b", max_retries=0)
        first = await queue.enqueue("first")
        await trio.sleep(1)
        info = await queue.get_job(first)
        assert info is not None
        assert {g: s.state for g, s in info.groups.items()} == {"a": "running", "b": "waiting"}
        assert await queue.cancel_job(first)
        assert await queue.get_job(first) is None
        await queue.resume("b")
        await queue.enqueue("second")
        await trio.sleep(1)
    assert started == [("first", "a"), ("second", "a"), ("second", "b")]


async def test_a_job_cancelled_right_after_its_enqueue_never_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelled before the router took it (no checkpoint between the two calls): it
    never runs, and the counters are back to zero."""
    queue = _queue(concurrency=2)
    ran: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        ran.append(job.data)
        await trio.sleep(1)

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=0)
        job_id = await queue.enqueue("a")
        assert await queue.cancel_job(job_id)
        assert not await queue.cancel_job(job_id)
        await queue.enqueue("b")
        await trio.sleep(5)
        stats = await queue.get_stats()
    assert ran == ["b"]
    assert (stats.pending, stats.processing, stats.completed) == (0, 0, 1)


async def test_pause_stops_a_chaining_worker_between_two_jobs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A worker that would chain the group's next job itself obeys a pause made while
    the previous handler ran: the next job waits until the resume."""
    queue = _queue()
    ran: list[tuple[int, float]] = []

    async def handler(job: QueueJob[int]) -> None:
        if job.data == 0:
            await queue.pause("g")
        ran.append((job.data, trio.current_time()))

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=0)
        start = trio.current_time()
        for i in range(3):
            await queue.enqueue(i, priority=-i)
        await trio.sleep(10)
        assert [data for data, _ in ran] == [0]
        waiting = await queue.list_jobs(state="waiting")
        assert [info.data for info in waiting] == [1, 2]
        await queue.resume()
        await trio.sleep(1)
    assert [(data, at - start) for data, at in ran] == [(0, 0.0), (1, 10.0), (2, 10.0)]


async def test_resuming_the_queue_resumes_groups_paused_on_their_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``is_paused(g)`` is True for a group paused itself or through the queue;
    ``resume(g)`` while the queue is paused changes nothing; ``resume()`` resumes all."""
    queue = _queue()
    async with queue:
        await queue.pause("a")
        assert (await queue.is_paused(), await queue.is_paused("a")) == (False, True)
        assert not await queue.is_paused("b")
        await queue.pause()
        await queue.resume("b")
        assert (await queue.is_paused(), await queue.is_paused("b")) == (True, True)
        await queue.resume()
        assert not any([await queue.is_paused(), await queue.is_paused("a")])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"state": "done"}, ValueError, "state must be one of"),
        ({"state": 3}, TypeError, "state must be a str"),
        ({"limit": 0}, ValueError, r"limit must be an int in 1\.\.10000"),
        ({"limit": 10_001}, ValueError, "limit"),
        ({"limit": True}, TypeError, "limit"),
        ({"limit": 1.5}, TypeError, "limit"),
        ({"consumer_group": ""}, ValueError, "consumer_group"),
    ],
)
async def test_list_jobs_refuses_bad_arguments(
    autojump_clock: trio.testing.MockClock,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    """Each bad argument gets a typed error naming it."""
    queue = _queue()
    async with queue:
        with pytest.raises(error, match=match):
            await queue.list_jobs(**kwargs)


async def test_job_control_calls_check_their_ids(autojump_clock: trio.testing.MockClock) -> None:
    """A bad id or group is refused; an unknown one is not an error."""
    queue = _queue()
    async with queue:
        for call in (queue.get_job, queue.cancel_job):
            with pytest.raises(TypeError):
                await call(3)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="job_id"):
                await call("")
        with pytest.raises(ValueError, match="consumer_group"):
            await queue.pause("bad\nname")
        assert await queue.get_job("unknown") is None
        assert not await queue.cancel_job("unknown")
