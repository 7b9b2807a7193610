"""Failed-jobs scenarios run on every backend (``tests/core/test_failed_jobs.py`` on the
in-memory backend, ``tests/redis/test_redis_failed_jobs.py`` on Redis).

Each takes a started queue (or proxy) whose retry backoff is short, and polls with
``trio.sleep``, which an autojump clock turns into no wall time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from checkqueue_actors import FailedJob, QueueJob

__all__ = [
    "bound_keeps_the_newest",
    "drop_by_group_and_all",
    "record_filter_and_limit",
    "retry_runs_in_that_group_only",
]


async def _wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    with trio.fail_after(seconds):
        while not await predicate():  # noqa: ASYNC110  # polls the backend's own counters
            await trio.sleep(0.02)


async def _failed_at_least(queue: Any, n: int) -> None:
    async def enough() -> bool:
        failed: int = (await queue.get_stats()).failed
        return failed >= n

    await _wait_for(enough)


def _boom(names: set[str]) -> Callable[[QueueJob[Any]], Awaitable[None]]:
    async def handler(job: QueueJob[Any]) -> None:
        if job.id in names:
            msg = f"boom {job.id}"
            raise RuntimeError(msg)

    return handler


async def record_filter_and_limit(queue: Any) -> None:
    """Exhausted deliveries are recorded with their error and attempts, newest first, one
    per job and group; the group filter and the limit hold."""
    await queue.consume(_boom({"x", "y"}), consumer_group="a", max_retries=2)
    await queue.consume(_boom({"x", "y"}), consumer_group="b", max_retries=0)
    await queue.enqueue({"n": 1}, job_id="x", priority=3)
    await _failed_at_least(queue, 2)  # x failed in both groups
    await queue.enqueue({"n": 2}, job_id="y")
    await _failed_at_least(queue, 4)
    failed: list[FailedJob[Any]] = await queue.get_failed_jobs()
    assert sorted((f.job_id, f.consumer_group, f.attempts) for f in failed) == [
        ("x", "a", 2),
        ("x", "b", 0),
        ("y", "a", 2),
        ("y", "b", 0),
    ]
    assert [f.failed_at for f in failed] == sorted((f.failed_at for f in failed), reverse=True)
    assert failed[0].job_id == "y"  # y failed after x in both groups
    x_a = next(f for f in failed if (f.job_id, f.consumer_group) == ("x", "a"))
    assert x_a.data == {"n": 1}
    assert x_a.priority == 3
    assert x_a.error == "RuntimeError: boom x"
    assert (x_a.id, x_a.group) == ("x", "a")  # the earlier Redis names still read
    in_a = await queue.get_failed_jobs(consumer_group="a")
    assert [(f.job_id, f.consumer_group) for f in in_a] == [("y", "a"), ("x", "a")]
    assert await queue.get_failed_jobs(limit=1) == failed[:1]
    assert (
        await queue.get_failed_jobs(consumer_group="b", limit=1)
        == [f for f in failed if f.consumer_group == "b"][:1]
    )
    assert await queue.get_failed_jobs(limit=0) == []
    assert await queue.get_failed_jobs(consumer_group="nobody") == []
    with pytest.raises(ValueError, match="limit must be an int >= 0"):
        await queue.get_failed_jobs(limit=-1)
    assert (await queue.get_stats()).failed == 4


async def bound_keeps_the_newest(queue: Any, bound: int) -> None:
    """The record keeps the newest ``bound`` entries; the stats still count every failure."""
    names = {f"j{i}" for i in range(bound + 2)}
    await queue.consume(_boom(names), consumer_group="g", max_retries=0)
    for i in range(bound + 2):
        await queue.enqueue(i, job_id=f"j{i}")
        await _failed_at_least(queue, i + 1)
        await trio.sleep(0.01)  # distinct failure times, even at millisecond resolution
    failed = await queue.get_failed_jobs(limit=100)
    assert [f.job_id for f in failed] == [f"j{i}" for i in reversed(range(2, bound + 2))]
    assert (await queue.get_stats()).failed == bound + 2


async def retry_runs_in_that_group_only(queue: Any) -> None:
    """A retried entry runs again in its group only, attempts from 0, and leaves the record."""
    runs: list[tuple[str, str, int]] = []
    failing = {"j"}

    def handler(group: str) -> Callable[[QueueJob[Any]], Awaitable[None]]:
        async def run(job: QueueJob[Any]) -> None:
            runs.append((group, job.id, job.attempts))
            if group == "a" and job.id in failing:
                raise RuntimeError("not yet")

        return run

    await queue.consume(handler("a"), consumer_group="a", max_retries=1)
    await queue.consume(handler("b"), consumer_group="b", max_retries=1)
    await queue.enqueue("payload", job_id="j")
    await _failed_at_least(queue, 1)

    async def b_ran() -> bool:
        return ("b", "j", 0) in runs

    await _wait_for(b_ran)
    assert sorted(runs) == [("a", "j", 0), ("a", "j", 1), ("b", "j", 0)]
    assert not await queue.retry_failed_job("j", consumer_group="b")  # b did not fail it
    assert not await queue.retry_failed_job("j", consumer_group="nobody")
    failing.clear()
    completed: int = (await queue.get_stats()).completed
    assert await queue.retry_failed_job("j", consumer_group="a")
    assert await queue.get_failed_jobs() == []
    assert not await queue.retry_failed_job("j", consumer_group="a")  # no longer recorded

    async def done() -> bool:
        now_completed: int = (await queue.get_stats()).completed
        return now_completed > completed

    await _wait_for(done)
    await trio.sleep(0.5)
    assert runs[3:] == [("a", "j", 0)]
    stats = await queue.get_stats()
    assert (stats.pending, stats.failed, stats.completed) == (0, 1, completed + 1)


async def drop_by_group_and_all(queue: Any) -> None:
    """Entries are dropped by group, by (job, group) pairs, or all at once."""
    names = {"p", "q", "r"}
    await queue.consume(_boom(names), consumer_group="a", max_retries=0)
    await queue.consume(_boom(names), consumer_group="b", max_retries=0)
    for name in sorted(names):
        await queue.enqueue(name, job_id=name)
    await _failed_at_least(queue, 6)
    assert await queue.drop_failed_jobs(consumer_group="a") == 3
    assert await queue.drop_failed_jobs(consumer_group="a") == 0
    assert sorted(f.consumer_group for f in await queue.get_failed_jobs()) == ["b"] * 3
    assert await queue.drop_failed_jobs([("p", "b"), ("p", "a")]) == 1
    with pytest.raises(ValueError, match="not both"):
        await queue.drop_failed_jobs([("q", "b")], consumer_group="b")
    assert await queue.drop_failed_jobs() == 2
    assert await queue.get_failed_jobs() == []
    assert (await queue.get_stats()).failed == 6
