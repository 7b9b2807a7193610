"""Instruments observe every enqueue and delivery, from the runtime, without breaking either."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    Instrument,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors.testing import drain


class Recorder(Instrument):
    """Records every call as a tuple."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def job_enqueued(self, queue: Any, job: QueueJob[Any]) -> None:
        self.calls.append(("enqueued", queue.name, job.id, job.data))

    def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
        self.calls.append(("started", group, job.id, job.attempts))

    def delivery_finished(
        self, queue: Any, group: str, job: QueueJob[Any], outcome: str, duration: float
    ) -> None:
        self.calls.append(("finished", group, job.id, outcome, duration))


async def test_outcomes_of_deliveries(autojump_clock: trio.testing.MockClock) -> None:
    """Completed, retrying and failed deliveries are reported with the handler's duration."""
    recorder = Recorder()
    config = InMemoryQueueConfig(concurrency=1)
    queue: InMemoryQueue[str] = InMemoryQueue("q", config, instruments=[recorder])

    async def handler(job: QueueJob[str]) -> None:
        await trio.sleep(0.5)
        if job.data == "bad":
            raise ValueError("no")

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=1)
        await queue.enqueue("good", job_id="a")
        await queue.enqueue("bad", job_id="b")
        await queue.enqueue("good", job_id="a")  # a duplicate: not enqueued again
        await drain(queue)
    assert [c for c in recorder.calls if c[0] == "enqueued"] == [
        ("enqueued", "q", "a", "good"),
        ("enqueued", "q", "b", "bad"),
    ]
    finished = [c[:4] for c in recorder.calls if c[0] == "finished"]
    assert finished == [
        ("finished", "g", "a", "completed"),
        ("finished", "g", "b", "retrying"),
        ("finished", "g", "b", "failed"),
    ]
    assert all(c[4] == 0.5 for c in recorder.calls if c[0] == "finished")
    started = [c for c in recorder.calls if c[0] == "started"]
    assert started == [("started", "g", "a", 0), ("started", "g", "b", 0), ("started", "g", "b", 1)]


async def test_handler_time_counts_neither_idle_time_nor_other_jobs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Jobs run back to back by one worker are each timed from the end of the one
    before; a worker that waited for work times its next job from its start."""
    recorder = Recorder()
    queue: InMemoryQueue[float] = InMemoryQueue(
        "q", InMemoryQueueConfig(concurrency=1), instruments=[recorder]
    )

    async def handler(job: QueueJob[float]) -> None:
        await trio.sleep(job.data)

    async with queue:
        await queue.consume(handler, consumer_group="g")
        for seconds in (0.5, 1.5, 0.25):  # stored at once: run back to back
            await queue.enqueue(seconds)
        await drain(queue)
        await trio.sleep(10)  # the worker waits for work meanwhile
        await queue.enqueue(2.0)
        await drain(queue)
        await trio.sleep(3)
        await queue.enqueue(0.75)
        await drain(queue)
    durations = [c[4] for c in recorder.calls if c[0] == "finished"]
    assert durations == [0.5, 1.5, 0.25, 2.0, 0.75]


async def test_a_hard_cancel_reports_released(autojump_clock: trio.testing.MockClock) -> None:
    """A delivery interrupted by cancelling the queue's nursery is reported as released."""
    recorder = Recorder()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[recorder])

    async def handler(job: QueueJob[str]) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("x", job_id="x")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [c[:4] for c in recorder.calls if c[0] == "finished"] == [
        ("finished", "g", "x", "released")
    ]


async def test_a_raising_instrument_is_logged_once_and_ignored(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An instrument that raises breaks nothing; each broken method is logged once."""
    done: list[str] = []

    class Broken:
        def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
            raise RuntimeError("instrument bug")

    async def handler(job: QueueJob[str]) -> None:
        done.append(job.id)

    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[Broken()])
    with caplog.at_level(logging.ERROR, logger="checkqueue_actors"):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            for i in range(3):
                await queue.enqueue("x", job_id=f"j{i}")
            await drain(queue)
    assert done == ["j0", "j1", "j2"]
    logged = [r for r in caplog.records if "instrument" in r.getMessage()]
    assert len(logged) == 1


def test_an_object_without_instrument_methods_is_refused() -> None:
    """A TypeError at construction, not a silent no-op."""
    with pytest.raises(TypeError, match="has none of the methods"):
        InMemoryQueue("q", instruments=[object()])


async def test_the_manager_instruments_every_queue_on_every_backend(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Instruments given to the manager observe its queues, before and after a switch."""
    recorder = Recorder()
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    seen: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append(job.data)

    async with open_queue_manager(registry, instruments=[recorder]) as manager:
        queue = manager.get_queue("emails")
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("before")
        await trio.testing.wait_all_tasks_blocked()
        await manager.set_active_backend("memory", InMemoryQueueConfig(concurrency=2))
        await queue.enqueue("after")
        await trio.testing.wait_all_tasks_blocked()
    assert seen == ["before", "after"]
    assert [c[3] for c in recorder.calls if c[0] == "enqueued"] == ["before", "after"]
    assert len([c for c in recorder.calls if c[0] == "finished"]) == 2


async def test_attached_is_called_once_per_queue_and_counters_read_at_leisure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``attached`` runs once for each queue an instrument starts observing; the queue's
    ``jobs_enqueued`` counts stored jobs (not duplicates) and ``running_by_group()`` the
    handlers running now."""
    from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig

    class Watcher:
        def __init__(self) -> None:
            self.queues: list[Any] = []

        def attached(self, queue: Any) -> None:
            self.queues.append(queue)

    early, late = Watcher(), Watcher()
    queue = InMemoryQueue[int]("w", InMemoryQueueConfig(concurrency=4), instruments=[early])
    queue.add_instruments([late])
    assert early.queues == [queue]
    assert late.queues == [queue]
    release = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        await release.wait()

    async with queue:
        try:
            await queue.consume(handler, consumer_group="a")
            for i in range(3):
                await queue.enqueue(i, job_id=f"j{i}")
            await queue.enqueue(9, job_id="j0")  # a duplicate: not stored
            await queue.enqueue_many([10, 11])
            await trio.sleep(1)
            assert queue.jobs_enqueued == 5
            assert queue.running_by_group() == {"a": 4}
        finally:
            release.set()  # the handlers end, so that the queue stops
        await trio.sleep(1)
        assert queue.running_by_group() == {}
    assert early.queues == [queue]


async def test_enqueue_many_reports_only_the_jobs_it_stored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An id already in the queue, or repeated in the call, is skipped: no job_enqueued."""
    recorder = Recorder()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[recorder])
    async with queue:
        await queue.enqueue("old", job_id="a")
        await queue.enqueue_many(["x", "y", "z", "w"], job_ids=["a", "b", "b", "c"])
    assert [c for c in recorder.calls if c[0] == "enqueued"] == [
        ("enqueued", "q", "a", "old"),
        ("enqueued", "q", "b", "y"),
        ("enqueued", "q", "c", "w"),
    ]
    assert queue.jobs_enqueued == 3
