"""Redis (real time): delivery timeouts and headers are stored with the job, returned by
claims and ``export_pending``, and carried through a switch from the in-memory backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import (
    InMemoryQueuePlugin,
    JobTimeoutError,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors.redis import RedisQueueConfig, RedisQueuePlugin
from checkqueue_actors.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors.redis import RedisQueue


async def test_a_job_over_its_timeout_is_retried_then_fails_with_job_timeout_error(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Cut at the job's own timeout (winning over the group's longer one), retried, then
    recorded as failed with a JobTimeoutError; a job within the group's timeout completes."""
    queue = make_queue("q")
    runs: list[tuple[str, int, float]] = []

    async def handler(job: QueueJob[float]) -> None:
        started = trio.current_time()
        try:
            await trio.sleep(job.data)
        finally:
            runs.append((job.id, job.attempts, trio.current_time() - started))

    with trio.fail_after(30):
        async with queue:
            await queue.consume(handler, consumer_group="g", max_retries=1, timeout=5.0)
            await queue.enqueue(60.0, job_id="slow", timeout=0.2)
            await queue.enqueue(0.5, job_id="fits")  # the group's 5 s applies
            await wait_until(lambda: len(runs) == 3, timeout=20)
            failed = await queue.get_failed_jobs()
            stats = await queue.get_stats()
    assert [(r[0], r[1]) for r in runs if r[0] == "slow"] == [("slow", 0), ("slow", 1)]
    assert all(0.15 < r[2] < 2.0 for r in runs if r[0] == "slow")
    assert (stats.completed, stats.failed) == (1, 1)
    assert [(f.id, f.attempts) for f in failed] == [("slow", 1)]
    assert failed[0].error.startswith("JobTimeoutError: ")
    assert JobTimeoutError.__name__ in failed[0].error


async def test_a_handler_within_its_timeout_keeps_its_lease(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """With a 0.3 s lease, a handler running 1 s within its 5 s timeout is renewed, not
    taken back: it runs once."""
    queue = make_queue("q", lease_seconds=0.3)
    runs: list[str] = []
    done = trio.Event()

    async def handler(job: QueueJob[str]) -> None:
        runs.append(job.id)
        await trio.sleep(1.0)
        done.set()

    with trio.fail_after(20):
        async with queue:
            await queue.consume(handler, consumer_group="g", timeout=5.0)
            await queue.enqueue("x", job_id="long", timeout=5.0)
            await done.wait()
            await trio.sleep(1.0)  # a redelivery, if any, would have started by now
            stats = await queue.get_stats()
    assert runs == ["long"]
    assert (stats.completed, stats.failed, stats.pending) == (1, 0, 0)


async def test_headers_survive_retries_and_export_pending(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Every delivery (retries included) gets the headers; export returns them with the
    job's own timeout; a job without them exports empty headers and no timeout."""
    queue = make_queue("q")
    seen: list[tuple[int, dict[str, str]]] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append((job.attempts, dict(job.headers)))
        if job.attempts < 2:
            raise ValueError("again")

    headers = {"trace": "t-1", "ünï": 'cödé "quoted"'}
    with trio.fail_after(30):
        async with queue:
            await queue.consume(handler, consumer_group="g", max_retries=3)
            await queue.enqueue("x", job_id="h", headers=headers)
            await wait_until(lambda: len(seen) == 3, timeout=20)
            await queue.enqueue("later", job_id="d", start_delay=100, headers={"a": ""}, timeout=2)
            await queue.enqueue_many(["m1", "m2"], job_ids=["m1", "m2"], start_delay=100, timeout=3)
            await queue.enqueue("plain", job_id="p", start_delay=100)
        exported = {j.id: (dict(j.headers), j.timeout) for j in await queue.export_pending()}
    assert seen == [(0, headers), (1, headers), (2, headers)]
    assert exported == {
        "d": ({"a": ""}, 2.0),
        "m1": ({}, 3.0),
        "m2": ({}, 3.0),
        "p": ({}, None),
    }


async def test_bad_options_store_nothing(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    """A refused timeout or headers stores nothing on Redis."""
    queue = make_queue("q")
    with trio.fail_after(20):
        async with queue:
            with pytest.raises(ValueError, match="timeout"):
                await queue.enqueue("x", timeout=float("inf"))
            with pytest.raises(TypeError):
                await queue.enqueue_many(["x"], headers={"a": b"bytes"})  # type: ignore[dict-item]
            with pytest.raises(ValueError, match="header"):
                await queue.enqueue_for_groups("x", groups=["g"], headers={"": "v"})
            assert (await queue.get_stats()).pending == 0
        assert await queue.export_pending() == []


async def test_a_switch_from_memory_to_redis_keeps_headers_and_timeouts(
    redis_config: RedisQueueConfig,
) -> None:
    """Pending jobs moved from the in-memory backend to Redis keep their headers and own
    timeout; the replayed consumer keeps its group's timeout."""
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    registry.register(RedisQueuePlugin())
    runs: list[tuple[str, dict[str, str], float]] = []

    async def handler(job: QueueJob[float]) -> None:
        started = trio.current_time()
        try:
            await trio.sleep(job.data)
        finally:
            runs.append((job.id, dict(job.headers), trio.current_time() - started))

    with trio.fail_after(30):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(handler, consumer_group="g", max_retries=0, timeout=0.5)
            await proxy.enqueue(30.0, job_id="own", start_delay=1, timeout=1.5, headers={"k": "v"})
            await proxy.enqueue(30.0, job_id="group", start_delay=1, headers={"n": "1"})
            await proxy.enqueue(0.0, job_id="quick", start_delay=1)
            result = await manager.set_active_backend("redis", redis_config)
            assert result.success
            assert result.migrated_pending_jobs == 3
            # the remaining delays (about 1 s) are kept
            await wait_until(lambda: len(runs) == 3, timeout=20)
    got = {job_id: (headers, took) for job_id, headers, took in runs}
    assert got["own"][0] == {"k": "v"}
    assert 1.3 < got["own"][1] < 3.0
    assert got["group"][0] == {"n": "1"}
    assert 0.4 < got["group"][1] < 1.4
    assert got["quick"] == ({}, got["quick"][1])
