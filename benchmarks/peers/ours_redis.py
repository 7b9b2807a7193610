"""checkqueue_actors' Redis backend (``checkqueue_actors.redis``), through its public API.

Skipped (ImportError) until that module exists or when coredis is missing.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import trio

from benchmarks._common import Unsupported, cpu_seconds, percentile

_GROUP = "bench"


def _queue(url: str, concurrency: int, size: int, prefix: str | None = None) -> Any:
    from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

    config = RedisQueueConfig(
        url=url,
        key_prefix=prefix or f"cqbench{uuid.uuid4().hex[:8]}",
        concurrency=concurrency,
        max_queue_size=max(100_000, size),
    )
    return RedisQueue("bench", config)


class _Counter:
    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.done = trio.Event()

    async def __call__(self, job: Any) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


async def _throughput(url: str, n: int, concurrency: int, live: bool) -> dict[str, Any]:
    counter = _Counter(n)
    prefix = f"cqbench{uuid.uuid4().hex[:8]}"
    if not live:
        # the group exists first (its workers ran before and stopped), so that the
        # backlog is owed to it as it is enqueued, as with workers down for a deploy
        # (jobs enqueued while no group exists at all would be adopted by the first
        # consume instead: constant time, but not the case this scenario measures)
        async with _queue(url, concurrency, n, prefix) as first:
            await first.consume(_Counter(n), consumer_group=_GROUP)
    async with _queue(url, concurrency, n, prefix) as queue:
        if live:
            await queue.consume(counter, consumer_group=_GROUP)
            t0, c0 = time.perf_counter(), cpu_seconds()
            for i in range(n):
                await queue.enqueue(i)
        else:
            # no consumer in this process until the timer starts
            for i in range(n):
                await queue.enqueue(i)
            t0, c0 = time.perf_counter(), cpu_seconds()
            await queue.consume(counter, consumer_group=_GROUP)
        await counter.done.wait()
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"seconds": seconds, "cpu_us_per_job": cpu / n * 1e6}


async def _enqueue(url: str, n: int, bulk: bool, tasks: int = 1) -> dict[str, Any]:
    async with _queue(url, 10, n) as queue:
        if bulk and not hasattr(queue, "enqueue_many"):
            raise Unsupported("RedisQueue has no enqueue_many yet")
        t0 = time.perf_counter()
        if tasks > 1:
            # ``tasks`` producers at once, each awaiting its enqueues one by one

            async def producer(first: int) -> None:
                for i in range(first, n, tasks):
                    await queue.enqueue(i)

            async with trio.open_nursery() as nursery:
                for first in range(tasks):
                    nursery.start_soon(producer, first)
        elif bulk:
            for start in range(0, n, 1000):
                await queue.enqueue_many(range(start, min(n, start + 1000)))
        else:
            for i in range(n):
                await queue.enqueue(i)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds}


async def _latency(url: str, samples: int, concurrency: int) -> dict[str, Any]:
    lat: list[float] = []
    box: list[trio.Event] = [trio.Event()]

    async def handler(job: Any) -> None:
        lat.append(time.perf_counter() - job.data)
        box[0].set()

    async with _queue(url, concurrency, 10) as queue:
        await queue.consume(handler, consumer_group=_GROUP)
        await trio.sleep(0.05)
        for _ in range(samples):
            box[0] = trio.Event()
            await queue.enqueue(time.perf_counter())
            await box[0].wait()
            await trio.sleep(0.001)
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    import checkqueue_actors.redis  # noqa: F401  # ImportError: the row is skipped

    url = str(params["redis_url"])
    n = int(params.get("n", 0))
    concurrency = int(params.get("concurrency", 10))
    if workload in ("live", "drain"):
        return trio.run(_throughput, url, n, concurrency, workload == "live")
    if workload in ("enqueue", "enqueue_bulk"):
        return trio.run(_enqueue, url, n, workload == "enqueue_bulk")
    if workload == "enqueue_concurrent":
        return trio.run(_enqueue, url, n, False, int(params["tasks"]))
    if workload == "latency":
        return trio.run(_latency, url, int(params["samples"]), concurrency)
    raise Unsupported(workload)
