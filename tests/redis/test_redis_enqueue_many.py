"""RedisQueue.enqueue_many: all-or-nothing bulk enqueue with every enqueue guarantee."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import QueueFullError, QueueStoppedError, SerializationError
from checkqueue_actors.testing import DeliveryLog, RecordingHandler

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors.redis import RedisQueue

    from ._server import RedisServer


async def test_returns_ids_in_order_and_dispatches_fifo(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=1) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        ids = await queue.enqueue_many(range(5))
        assert len(ids) == 5
        assert len(set(ids)) == 5
        with trio.fail_after(10):
            await log.wait_finished(5)
    assert log.data == [0, 1, 2, 3, 4]
    assert [job.id for job in log.jobs] == ids


async def test_priority_applies_to_every_item(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=1) as queue:
        await queue.enqueue_many(["low1", "low2"])
        await queue.enqueue_many(["high1", "high2"], priority=5)
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        with trio.fail_after(10):
            await log.wait_finished(4)
    assert log.data == ["high1", "high2", "low1", "low2"]
    assert {job.priority for job in log.jobs[:2]} == {5}


async def test_dedups_against_queue_and_within_batch(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    async with make_queue() as queue:
        await queue.enqueue("old", job_id="a")
        ids = await queue.enqueue_many(["x", "y", "z", "w"], job_ids=["a", "b", "b", None])
        assert ids[:3] == ["a", "b", "b"]
        assert ids[3] not in ("a", "b")
        assert (await queue.get_stats()).pending == 3
        log: DeliveryLog[Any] = DeliveryLog()
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        with trio.fail_after(10):
            await log.wait_finished(3)
    # the first of the repeated ids wins, and the job already queued keeps its payload
    assert sorted(log.data) == ["old", "w", "y"]


async def test_bad_arguments_and_payloads_store_nothing(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    async with make_queue(max_payload_bytes=100) as queue:
        before = redis_server.command("DBSIZE")
        with pytest.raises(ValueError, match="job_id"):
            await queue.enqueue_many([1, 2], job_ids=["ok", ""])
        with pytest.raises(ValueError, match="entries"):
            await queue.enqueue_many([1, 2], job_ids=["only-one"])
        with pytest.raises(ValueError, match="priority"):
            await queue.enqueue_many([1], priority=True)
        with pytest.raises(ValueError, match="start_delay"):
            await queue.enqueue_many([1], start_delay=-1)
        # the bad payload is the last one: the first ones must not have been sent
        with pytest.raises(SerializationError, match="cannot be encoded"):
            await queue.enqueue_many([1, 2, {3}])
        with pytest.raises(SerializationError, match="max_payload_bytes"):
            await queue.enqueue_many([1, "x" * 200])
        assert redis_server.command("DBSIZE") == before
        assert (await queue.get_stats()).pending == 0


async def test_full_queue_stores_nothing(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    async with make_queue(max_queue_size=3) as queue:
        await queue.enqueue(0, job_id="dup")
        with pytest.raises(QueueFullError, match="do not fit"):
            await queue.enqueue_many([1, 2, 3])
        assert (await queue.get_stats()).pending == 1
        # a duplicate takes no room, within the batch or against the queue
        await queue.enqueue_many([1, 2, 3, 4], job_ids=["dup", None, "x", "x"])
        assert (await queue.get_stats()).pending == 3


async def test_a_batch_of_many_chunks_is_stored_whole(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=50) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        ids = await queue.enqueue_many(range(2_500), job_ids=[f"j{i}" for i in range(2_500)])
        assert ids == [f"j{i}" for i in range(2_500)]
        with trio.fail_after(30):
            await log.wait_finished(2_500)
    assert sorted(log.data) == list(range(2_500))


async def test_a_batch_of_many_chunks_that_does_not_fit_stores_nothing(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """The first chunk's script counts the later chunks: nothing is stored."""
    async with make_queue(max_queue_size=2_400) as queue:
        before = redis_server.command("DBSIZE")
        with pytest.raises(QueueFullError, match="2500 more do not fit"):
            await queue.enqueue_many(range(2_500))
        assert redis_server.command("DBSIZE") == before
        # chunks cut by payload size (about 1 MiB each) count the same way
        big = ["x" * 400_000] * 6
        async with make_queue(max_queue_size=5) as small:
            with pytest.raises(QueueFullError):
                await small.enqueue_many(big)
            assert (await small.get_stats()).pending == 0
            assert len(await small.enqueue_many(big[:5])) == 5
            assert (await small.get_stats()).pending == 5


async def test_start_delay_applies_to_every_item(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    async with make_queue() as queue:
        # delay_multiplier is 0.01 in the test config: 1,000 s are 10 s here
        await queue.enqueue_many([1, 2, 3], start_delay=1_000)
        assert redis_server.command("ZCARD", f"{queue.key_base}delayed") == 3
        assert (await queue.get_stats()).pending == 3
    exported = await queue.export_pending()
    assert [job.data for job in exported] == [1, 2, 3]
    assert all(job.remaining_delay > 5 for job in exported)


async def test_every_group_gets_every_job(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    logs: dict[str, DeliveryLog[Any]] = {"a": DeliveryLog(), "b": DeliveryLog()}
    async with make_queue() as queue:
        for name, log in logs.items():
            await queue.consume(RecordingHandler(log=log), consumer_group=name)
        await queue.enqueue_many(["x", "y"])
        with trio.fail_after(10):
            for log in logs.values():
                await log.wait_finished(2)
    assert sorted(logs["a"].data) == sorted(logs["b"].data) == ["x", "y"]


async def test_empty_batch_and_after_stop(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    async with make_queue() as queue:
        assert await queue.enqueue_many([]) == []
    with pytest.raises(QueueStoppedError):
        await queue.enqueue_many([1])


async def test_instruments_hear_of_the_stored_jobs_only(redis_config: Any) -> None:
    """An id already in the queue, or repeated in the call, is skipped: no job_enqueued
    for it (the script tells which jobs it skipped, across chunks)."""
    from checkqueue_actors.redis import RedisQueue

    heard: list[tuple[str, Any]] = []

    class Heard:
        def job_enqueued(self, queue: Any, job: Any) -> None:
            heard.append((job.id, job.data))

    queue: RedisQueue[Any] = RedisQueue("heard", redis_config, instruments=[Heard()])
    async with queue:
        await queue.enqueue("old", job_id="a")
        await queue.enqueue_many(["x", "y", "z", "w"], job_ids=["a", "b", "b", "c"])
        # 2,100 jobs: three chunks of the script (1,000 jobs each at most)
        ids = [f"k{i}" for i in range(2_100)]
        await queue.enqueue_many(range(2_100), job_ids=["c", *ids[1:2_000], "a", *ids[2_001:]])
    assert heard[:3] == [("a", "old"), ("b", "y"), ("c", "w")]
    assert [job_id for job_id, _ in heard[3:]] == [*ids[1:2_000], *ids[2_001:]]
    assert queue.jobs_enqueued == 3 + 2_098
