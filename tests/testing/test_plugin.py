"""The pytest plugin and the helpers, used the way an application would."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob
from checkqueue_actors.testing import RecordingHandler, drain, wait_until

if TYPE_CHECKING:
    from pathlib import Path

pytest_plugins = ["pytester"]


async def test_drain_waits_through_delays_and_backoff(autojump_clock: trio.abc.Clock) -> None:
    """drain() returns once delayed jobs and every retry are done, in virtual time."""
    handler = RecordingHandler[Any](fail_times=2)
    with trio.fail_after(1000):
        async with InMemoryQueue[Any]("q") as queue:
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue("a", start_delay=30)
            await queue.enqueue("b")
            stats = await drain(queue)
            now = trio.current_time()
    assert (stats.pending, stats.processing, stats.completed) == (0, 0, 2)
    assert sorted(handler.log.data) == ["a", "a", "a", "b", "b", "b"]
    assert now == pytest.approx(36, abs=0.05)


async def test_drain_times_out_on_a_job_without_group(autojump_clock: trio.abc.Clock) -> None:
    """A job waiting for a first group never drains: drain() gives up with the stats."""
    async with InMemoryQueue[Any]("q") as queue:
        await queue.enqueue("orphan")
        with pytest.raises(trio.TooSlowError, match="pending=1"):
            await drain(queue, timeout=5)


async def test_drain_refuses_a_clock_that_cannot_move(mock_clock: trio.abc.Clock) -> None:
    """drain() on a MockClock without autojump would hang: it raises instead."""
    async with InMemoryQueue[Any]("q") as queue:
        with pytest.raises(RuntimeError, match="autojump"):
            await drain(queue)


async def test_wait_until_accepts_sync_and_async_predicates(
    autojump_clock: trio.abc.Clock,
) -> None:
    """wait_until polls until the predicate holds, or raises TooSlowError."""
    start = trio.current_time()
    await wait_until(lambda: trio.current_time() - start >= 3, poll_interval=1)
    assert trio.current_time() - start == pytest.approx(3)

    async def never() -> bool:
        await trio.lowlevel.checkpoint()
        return False

    with pytest.raises(trio.TooSlowError):
        await wait_until(never, timeout=2)


async def test_recording_handler_fails_chosen_ids_and_records_times(
    autojump_clock: trio.abc.Clock,
) -> None:
    """fail_ids always fail; each delivery records its trio start time and outcome."""
    handler = RecordingHandler[Any](fail_ids={"bad"}, duration=2)
    with trio.fail_after(1000):
        async with InMemoryQueue[Any]("q") as queue:
            await queue.consume(handler, consumer_group="g", max_retries=1)
            await queue.enqueue("x", job_id="bad")
            await queue.enqueue("y", job_id="good")
            await drain(queue)
    outcomes = [(d.job.id, d.failed, d.started_at) for d in handler.deliveries]
    assert outcomes == [("bad", True, 0), ("good", False, 0), ("bad", True, 4)]
    assert handler.log.max_running == 2


def test_plugin_fixtures_in_an_application_test(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A project enabling the plugin gets memory_queue on an autojump clock."""
    pytester.makeconftest('pytest_plugins = ["checkqueue_actors.testing.pytest_plugin"]\n')
    pytester.makepyfile(
        test_app=textwrap.dedent(
            """
            import trio
            from checkqueue_actors.testing import drain

            async def test_backoff_is_virtual(memory_queue, recording_handler):
                recording_handler.fail_times = 3
                await memory_queue.consume(recording_handler, consumer_group="g")
                await memory_queue.enqueue("job")
                with trio.fail_after(60):
                    await drain(memory_queue)
                starts = [d.started_at for d in recording_handler.deliveries]
                assert starts == [0, 2, 6, 14]
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "trio", "-q")
    result.assert_outcomes(passed=1)


async def test_delay_multiplier_scales_the_backoff_handlers_see(
    autojump_clock: trio.abc.Clock,
) -> None:
    """With delay_multiplier=0.5 the first retry comes after 1 s instead of 2 s."""
    config = InMemoryQueueConfig(concurrency=1, delay_multiplier=0.5)
    handler = RecordingHandler[Any](fail_times=1)
    async with InMemoryQueue[Any]("q", config) as queue:
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("x")
        await drain(queue)
    job: QueueJob[Any] = handler.log.jobs[-1]
    assert handler.deliveries[-1].started_at == 1.0
    assert job.attempts == 1
