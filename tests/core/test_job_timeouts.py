"""Delivery timeouts (in-memory, virtual time): the job's own wins over its group's; a run
past it is cancelled and fails with JobTimeoutError, retried per ``max_retries``."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    JobTimeoutError,
    QueueError,
    QueueJob,
)
from checkqueue_actors.testing import drain


class Outcomes:
    """An instrument recording ``(job id, attempts, outcome, duration)`` per delivery."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, int, str, float]] = []

    def delivery_finished(
        self, queue: Any, group: str, job: QueueJob[Any], outcome: str, duration: float
    ) -> None:
        self.finished.append((job.id, job.attempts, outcome, duration))


def _queue(outcomes: Outcomes | None = None) -> InMemoryQueue[float]:
    config = InMemoryQueueConfig(concurrency=4, delay_multiplier=0.001)
    return InMemoryQueue("t", config, instruments=[outcomes] if outcomes else [])


def test_job_timeout_error_is_a_queue_error_and_a_timeout_error() -> None:
    """JobTimeoutError is caught by ``except QueueError`` and ``except TimeoutError``."""
    error = JobTimeoutError("j", 1.5)
    assert isinstance(error, QueueError)
    assert isinstance(error, TimeoutError)
    assert (error.job_id, error.timeout) == ("j", 1.5)
    assert "1.5 s" in str(error)


async def test_group_timeout_cancels_retries_then_fails_with_job_timeout_error(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler past its group's timeout is cancelled at the timeout, retried
    ``max_retries`` times, then fails for good with a JobTimeoutError; instruments see
    ``timed_out`` each time."""
    outcomes = Outcomes()
    queue = _queue(outcomes)
    cancelled: list[float] = []

    async def handler(job: QueueJob[float]) -> None:
        started = trio.current_time()
        try:
            await trio.sleep(job.data)
        except trio.Cancelled:
            cancelled.append(trio.current_time() - started)
            raise

    caplog.set_level(logging.INFO, logger="checkqueue_actors")
    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=2, timeout=2.0)
        await queue.enqueue(100.0, job_id="slow")
        await queue.enqueue(1.0, job_id="quick")
        await drain(queue)
        stats = await queue.get_stats()
    assert (stats.completed, stats.failed) == (1, 1)
    assert [round(took, 6) for took in cancelled] == [2.0] * 3
    slow = [(f[1], f[2]) for f in outcomes.finished if f[0] == "slow"]
    assert slow == [(0, "timed_out"), (1, "timed_out"), (2, "timed_out")]
    assert ("quick", 0, "completed") in [f[:3] for f in outcomes.finished]
    final = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(final) == 1
    assert final[0].exc_info is not None
    assert isinstance(final[0].exc_info[1], JobTimeoutError)
    assert "JobTimeoutError" in final[0].getMessage()


async def test_the_jobs_own_timeout_wins_over_the_groups(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A job's ``timeout`` applies instead of its group's, longer or shorter."""
    outcomes = Outcomes()
    queue = _queue(outcomes)

    async def handler(job: QueueJob[float]) -> None:
        await trio.sleep(job.data)

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=0, timeout=1.0)
        await queue.enqueue(3.0, job_id="longer", timeout=5.0)  # group's 1 s would cut it
        await queue.enqueue(3.0, job_id="shorter", timeout=0.5)
        await queue.enqueue(3.0, job_id="group")  # the group's 1 s applies
        await queue.enqueue(0.5, job_id="within")
        await drain(queue)
    seen = {job_id: (outcome, round(took, 6)) for job_id, _, outcome, took in outcomes.finished}
    assert seen["longer"] == ("completed", 3.0)
    assert seen["shorter"] == ("timed_out", 0.5)
    assert seen["group"] == ("timed_out", 1.0)
    assert seen["within"] == ("completed", 0.5)


async def test_a_timeout_of_the_job_applies_without_a_group_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With no group timeout, only jobs that have one are cut."""
    outcomes = Outcomes()
    queue = _queue(outcomes)

    async def handler(job: QueueJob[float]) -> None:
        await trio.sleep(job.data)

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=0)
        await queue.enqueue(1000.0, job_id="untimed")
        await queue.enqueue(1000.0, job_id="timed", timeout=10)
        await queue.enqueue_many([1000.0], job_ids=["many"], timeout=20)
        await drain(queue, timeout=2000)
    seen = {job_id: (outcome, round(took, 6)) for job_id, _, outcome, took in outcomes.finished}
    assert seen["untimed"] == ("completed", 1000.0)
    assert seen["timed"] == ("timed_out", 10.0)
    assert seen["many"] == ("timed_out", 20.0)


async def test_a_handler_that_swallows_or_converts_the_cancellation_still_times_out(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Catching the cancellation does not turn a timed-out run into a success or into
    another error: it fails with JobTimeoutError."""
    outcomes = Outcomes()
    queue = _queue(outcomes)

    async def handler(job: QueueJob[float]) -> None:
        try:
            await trio.sleep(job.data)
        except trio.Cancelled:
            if job.id == "converts":
                raise ValueError("cleanup failed") from None
            return  # swallowed

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=0, timeout=1.0)
        await queue.enqueue(5.0, job_id="converts")
        await queue.enqueue(5.0, job_id="swallows")
        await drain(queue)
        stats = await queue.get_stats()
    assert stats.failed == 2
    assert sorted(f[2] for f in outcomes.finished) == ["timed_out", "timed_out"]
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info is not None]
    assert len(errors) == 2
    assert all(isinstance(e, JobTimeoutError) for e in errors)
    converted = next(e for e in errors if isinstance(e, JobTimeoutError) and e.job_id == "converts")
    assert isinstance(converted.__cause__, ValueError)


async def test_the_stops_grace_period_releases_a_timed_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A hard stop during a timed run releases it (not a timeout, not an attempt)."""
    outcomes = Outcomes()
    queue = _queue(outcomes)

    async def handler(job: QueueJob[float]) -> None:
        await trio.sleep(job.data)

    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.consume(handler, consumer_group="g", max_retries=0, timeout=100.0)
        await queue.enqueue(1000.0, job_id="long")
        await trio.sleep(1)
        await queue.stop(grace_period=5)
    assert [f[2] for f in outcomes.finished] == ["released"]
    assert [job.id for job in await queue.export_pending()] == ["long"]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (float("inf"), ValueError),
        (float("nan"), ValueError),
        (1e12, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ],
)
async def test_bad_timeouts_are_refused_and_store_nothing(
    autojump_clock: trio.testing.MockClock, bad: Any, error: type[Exception]
) -> None:
    """A timeout that is not a finite number > 0 (up to 100 years) is refused by every
    call taking one; nothing is stored and no consumer joins."""
    queue = _queue()

    async def handler(job: QueueJob[float]) -> None:
        await trio.lowlevel.checkpoint()

    async with queue:
        with pytest.raises(error):
            await queue.enqueue(1.0, timeout=bad)
        with pytest.raises(error):
            await queue.enqueue_many([1.0, 2.0], timeout=bad)
        with pytest.raises(error):
            await queue.enqueue_for_groups(1.0, groups=["g"], timeout=bad)
        with pytest.raises(error):
            await queue.consume(handler, consumer_group="g", timeout=bad)
        stats = await queue.get_stats()
        assert (stats.pending, stats.consumer_groups) == (0, 0)
        assert queue.routers == {}


async def test_a_group_keeps_one_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """A consumer cannot join its group with another timeout (as with ``max_retries``)."""
    queue = _queue()

    async def handler(job: QueueJob[float]) -> None:
        await trio.lowlevel.checkpoint()

    async with queue:
        await queue.consume(handler, consumer_group="g", timeout=1)
        await queue.consume(handler, consumer_group="g", timeout=1.0)
        with pytest.raises(ValueError, match="timeout"):
            await queue.consume(handler, consumer_group="g", timeout=2)
        with pytest.raises(ValueError, match="timeout"):
            await queue.consume(handler, consumer_group="g")
        assert len(queue.routers["g"].consumers) == 2
