"""checkqueue_actors' in-memory backend (InMemoryQueue), through its public API."""

from __future__ import annotations

import random
import time
import tracemalloc
from typing import Any

import trio
import trio.lowlevel

from benchmarks._common import Unsupported, cpu_seconds, max_rss_bytes, percentile, rss_bytes
from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob

_GROUP = "bench"


def _queue(concurrency: int, size: int) -> InMemoryQueue[Any]:
    config = InMemoryQueueConfig(concurrency=concurrency, max_queue_size=max(1, size))
    return InMemoryQueue("bench", config)


class _Counter:
    """A no-op handler that sets ``done`` after ``target`` calls."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.done = trio.Event()

    async def __call__(self, job: QueueJob[Any]) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


async def _fill(queue: InMemoryQueue[Any], n: int, chunk: int = 10_000) -> None:
    for start in range(0, n, chunk):
        await queue.enqueue_many(range(start, min(n, start + chunk)))


async def _live(n: int, concurrency: int) -> dict[str, Any]:
    counter = _Counter(n)
    async with _queue(concurrency, n) as queue:
        await queue.consume(counter, consumer_group=_GROUP)
        await trio.lowlevel.checkpoint()
        t0 = time.perf_counter()
        for i in range(n):
            await queue.enqueue(i)
        await counter.done.wait()
        seconds = time.perf_counter() - t0
    return {"seconds": seconds}


async def _drain(n: int, concurrency: int) -> dict[str, Any]:
    counter = _Counter(n)
    async with _queue(concurrency, n) as queue:
        for i in range(n):
            await queue.enqueue(i)
        t0 = time.perf_counter()
        await queue.consume(counter, consumer_group=_GROUP)
        await counter.done.wait()
        seconds = time.perf_counter() - t0
    return {"seconds": seconds}


async def _enqueue(n: int, bulk: bool) -> dict[str, Any]:
    async with _queue(10, n) as queue:
        t0 = time.perf_counter()
        if bulk:
            await queue.enqueue_many(range(n))
        else:
            for i in range(n):
                await queue.enqueue(i)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds}


async def _latency(samples: int, concurrency: int) -> dict[str, Any]:
    lat: list[float] = []
    box: list[trio.Event] = [trio.Event()]

    async def handler(job: QueueJob[float]) -> None:
        lat.append(time.perf_counter() - job.data)
        box[0].set()

    async with _queue(concurrency, 10) as queue:
        await queue.consume(handler, consumer_group=_GROUP)
        for _ in range(samples):
            box[0] = trio.Event()
            await queue.enqueue(time.perf_counter())
            await box[0].wait()
            await trio.sleep(0.0005)  # idle between jobs
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


async def _backlog(backlog: int, window: int, concurrency: int) -> dict[str, Any]:
    """Per-job enqueue and dispatch time while ``backlog`` jobs are pending.

    The group exists before the backlog is built (enqueue does not yield, so nothing
    runs meanwhile); then ``max(window, backlog // 4)`` more jobs are enqueued (timed),
    then the first ``window`` jobs are dispatched (timed) while ``backlog`` stay pending.
    """
    counter = _Counter(window)
    # Enqueueing keeps every job alive, so the cyclic GC runs a full collection each time
    # the heap of long-lived objects grows by 25%: a window of a quarter of the backlog
    # pays its amortised share, whatever the backlog.
    added = max(window, backlog // 4)
    async with _queue(concurrency, backlog + added) as queue:
        await queue.consume(counter, consumer_group=_GROUP)
        await trio.lowlevel.checkpoint()
        await _fill(queue, backlog)
        t0 = time.perf_counter()
        for i in range(added):
            await queue.enqueue(i)
        enqueue = (time.perf_counter() - t0) / added
        t0 = time.perf_counter()
        await counter.done.wait()
        dispatch = (time.perf_counter() - t0) / window
        await queue.stop()
    return {"enqueue_us": enqueue * 1e6, "dispatch_us": dispatch * 1e6}


async def _drain_memory(n: int, concurrency: int) -> dict[str, Any]:
    """RSS before, at the peak of an ``n``-job backlog, and once it is drained."""
    counter = _Counter(n)
    await _warm_up(concurrency)
    start = rss_bytes()
    async with _queue(concurrency, n) as queue:
        await _fill(queue, n)
        full = rss_bytes()
        t0 = time.perf_counter()
        await queue.consume(counter, consumer_group=_GROUP)
        await counter.done.wait()
        seconds = time.perf_counter() - t0
        drained = rss_bytes()
    return {
        "start_mb": start / 2**20,
        "full_mb": full / 2**20,
        "peak_mb": max_rss_bytes() / 2**20,
        "drained_mb": drained / 2**20,
        "kept_mb": (drained - start) / 2**20,
        "drain_jobs_per_s": n / seconds,
    }


async def _warm_up(concurrency: int) -> None:
    await _live(1000, concurrency)


async def _fanout(n: int, groups: int, concurrency: int) -> dict[str, Any]:
    counter = _Counter(n * groups)
    async with _queue(concurrency, n) as queue:
        for g in range(groups):
            await queue.consume(counter, consumer_group=f"g{g}")
        await trio.lowlevel.checkpoint()
        t0 = time.perf_counter()
        for i in range(n):
            await queue.enqueue(i)
        await counter.done.wait()
        seconds = time.perf_counter() - t0
    return {"per_job_us": seconds / n * 1e6, "per_delivery_us": seconds / (n * groups) * 1e6}


async def _timers(n: int, gap: float, spread: float, seed: int) -> dict[str, Any]:
    """``n`` jobs with random delays in [gap, gap + spread]: lateness and CPU while waiting."""
    rng = random.Random(seed)
    late: list[float] = []
    counter = _Counter(n)

    async def handler(job: QueueJob[float]) -> None:
        late.append(trio.current_time() - job.data)
        await counter(job)

    async with _queue(10, n) as queue:
        await queue.consume(handler, consumer_group=_GROUP)
        start = trio.current_time()
        for _ in range(n):
            delay = gap + rng.random() * spread
            await queue.enqueue(trio.current_time() + delay, start_delay=delay)
        await trio.lowlevel.checkpoint()
        cpu0, wall0 = cpu_seconds(), trio.current_time()
        await trio.sleep_until(start + gap * 0.9)
        cpu_idle = (cpu_seconds() - cpu0) / (trio.current_time() - wall0)
        cpu1 = cpu_seconds()
        await counter.done.wait()
        cpu_total = cpu_seconds() - cpu1
    return {
        "late_p50_ms": percentile(late, 50) * 1e3,
        "late_p99_ms": percentile(late, 99) * 1e3,
        "cpu_idle_share": cpu_idle,
        "cpu_per_timer_us": cpu_total / n * 1e6,
    }


async def _memory(n: int, churn: int, concurrency: int) -> dict[str, Any]:
    """Traced bytes per pending job, what is left once drained, and RSS growth under churn."""
    await _warm_up(concurrency)
    tracemalloc.start()
    counter = _Counter(n)
    async with _queue(concurrency, n) as queue:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            await queue.enqueue({"i": i})
        held = tracemalloc.get_traced_memory()[0] - before
        await queue.consume(counter, consumer_group=_GROUP)
        await counter.done.wait()
        await trio.sleep(0.01)
        after = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    growth = await _churn(churn, concurrency)
    return {
        "bytes_per_pending": held / n,
        "bytes_after_drain": after,
        "churn_bytes_per_job": growth,
    }


async def _churn(total: int, concurrency: int, batch: int = 5_000) -> float:
    """RSS growth per job once ``total`` jobs went through one live queue (after warm-up)."""
    counter = _Counter(total)
    async with _queue(concurrency, batch) as queue:
        await queue.consume(counter, consumer_group=_GROUP)
        warm = max(batch, total // 5)
        base = 0
        sent = 0
        while sent < total:
            for i in range(batch):
                await queue.enqueue({"i": i})
            sent += batch
            while counter.count < sent:
                await trio.lowlevel.checkpoint()
            if sent == warm:
                base = rss_bytes()
        end = rss_bytes()
    return (end - base) / max(1, total - warm)


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    n = int(params.get("n", 0))
    concurrency = int(params.get("concurrency", 10))
    if workload == "live":
        return trio.run(_live, n, concurrency)
    if workload == "drain":
        return trio.run(_drain, n, concurrency)
    if workload in ("enqueue", "enqueue_bulk"):
        return trio.run(_enqueue, n, workload == "enqueue_bulk")
    if workload == "latency":
        return trio.run(_latency, int(params["samples"]), concurrency)
    if workload == "backlog":
        return trio.run(_backlog, int(params["backlog"]), int(params["window"]), concurrency)
    if workload == "drain_memory":
        return trio.run(_drain_memory, n, concurrency)
    if workload == "fanout":
        return trio.run(_fanout, n, int(params["groups"]), concurrency)
    if workload == "timers":
        return trio.run(
            _timers, n, float(params["gap"]), float(params["spread"]), int(params.get("seed", 1))
        )
    if workload == "memory":
        return trio.run(_memory, n, int(params["churn"]), concurrency)
    raise Unsupported(workload)
