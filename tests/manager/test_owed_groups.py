"""A job one group finished and another still owed runs again only in the group that owed
it after a switch: ``PendingJob.groups`` and ``enqueue_for_groups``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    PendingJob,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)


async def test_a_job_one_group_finished_runs_again_only_in_the_group_that_owed_it(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Group "a" acked the job, "b" was waiting out a retry: after the switch only "b"
    runs it; a job both groups owed runs in both; no warning about reruns."""
    runs: Counter[tuple[str, str]] = Counter()

    async def fine(job: QueueJob[str]) -> None:
        runs["a", job.id] += 1

    async def fails_once(job: QueueJob[str]) -> None:
        runs["b", job.id] += 1
        if job.data == "flaky" and runs["b", job.id] == 1:
            raise RuntimeError("first attempt fails")

    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(fine, consumer_group="a")
            await proxy.consume(fails_once, consumer_group="b")
            await proxy.enqueue("flaky", job_id="half")  # done by "a", in backoff for "b"
            await proxy.enqueue("later", job_id="both", start_delay=50)
            await trio.sleep(0.5)
            result = await manager.set_active_backend("memory2", {})
            assert result.success
            assert result.migrated_pending_jobs == 2
            assert result.warnings == []
            await trio.sleep(100)
    assert runs == Counter({("a", "half"): 1, ("b", "half"): 2, ("a", "both"): 1, ("b", "both"): 1})


async def test_export_pending_names_the_groups_that_still_owe_each_job(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """None when every group owes it (or none exists); else the groups, in their order."""
    queue: InMemoryQueue[str] = InMemoryQueue("q", InMemoryQueueConfig())

    async def a(job: QueueJob[str]) -> None:
        if job.data == "a-fails":
            raise RuntimeError("a fails")

    async def b(job: QueueJob[str]) -> None:
        if job.data == "b-fails":
            raise RuntimeError("b fails")

    with trio.fail_after(60):
        async with queue:
            await queue.enqueue("orphan", job_id="orphan")  # before any group: for the first
            await queue.consume(a, consumer_group="a")
            await queue.enqueue("early", job_id="early", start_delay=100)  # only "a" existed
            await queue.consume(b, consumer_group="b")
            await queue.enqueue("b-fails", job_id="b-fails")
            await queue.enqueue("a-fails", job_id="a-fails")
            await queue.enqueue("late", job_id="late", start_delay=100)
            await trio.sleep(1)  # the retries wait 2 s
    pending = {job.id: job.groups for job in await queue.export_pending()}
    assert pending == {
        "early": ("a",),
        "b-fails": ("b",),
        "a-fails": ("a",),
        "late": None,
    }
    job = PendingJob("x", 1, 0, datetime.now(UTC), 0.0)
    assert (job.headers, job.groups) == ({}, None)


@pytest.mark.parametrize("later_group", ["b", "c"])
async def test_enqueue_for_groups_reaches_only_the_named_groups(
    later_group: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Named groups get the job; a named group created later takes it then; others never."""
    queue: InMemoryQueue[str] = InMemoryQueue("q")
    runs: list[tuple[str, str]] = []

    def handler(group: str) -> Any:
        async def run(job: QueueJob[str]) -> None:
            runs.append((group, job.id))

        return run

    with trio.fail_after(60):
        async with queue:
            await queue.consume(handler("a"), consumer_group="a")
            await queue.enqueue_for_groups("x", groups=[later_group], job_id="j")
            await queue.enqueue_for_groups(
                "y", groups=["a", later_group], job_id="k", start_delay=5
            )
            await trio.sleep(10)
            assert runs == [("a", "k")]
            assert (await queue.get_stats()).pending == 2  # kept for the missing group
            await queue.consume(handler(later_group), consumer_group=later_group)
            await trio.sleep(1)
    assert sorted(runs) == sorted([("a", "k"), (later_group, "j"), (later_group, "k")])
    with pytest.raises(ValueError, match="groups must be a non-empty sequence"):
        await InMemoryQueue[str]("other").enqueue_for_groups("x", groups=[])
