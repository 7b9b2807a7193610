"""taskiq's InMemoryBroker (asyncio), through its public API: ``@broker.task`` and ``.kiq()``.

The in-memory broker runs each kicked task at once as an asyncio task of the same
process (it has no separate consumer), so "live" and "drain" are the same workload
for it, and enqueue cannot be measured apart from execution.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from taskiq import InMemoryBroker

from benchmarks._common import Unsupported, percentile


async def _throughput(n: int, concurrency: int) -> dict[str, Any]:
    broker = InMemoryBroker(max_async_tasks=concurrency)
    done = asyncio.Event()
    count = 0

    @broker.task
    async def noop(i: int) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    await broker.startup()
    t0 = time.perf_counter()
    for i in range(n):
        await noop.kiq(i)
    await done.wait()
    seconds = time.perf_counter() - t0
    await broker.shutdown()
    return {"seconds": seconds}


async def _latency(samples: int, concurrency: int) -> dict[str, Any]:
    broker = InMemoryBroker(max_async_tasks=concurrency)
    lat: list[float] = []
    box: list[asyncio.Event] = [asyncio.Event()]

    @broker.task
    async def stamp(t0: float) -> None:
        lat.append(time.perf_counter() - t0)
        box[0].set()

    await broker.startup()
    for _ in range(samples):
        box[0] = asyncio.Event()
        await stamp.kiq(time.perf_counter())
        await box[0].wait()
        await asyncio.sleep(0.0005)
    await broker.shutdown()
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    concurrency = int(params.get("concurrency", 10))
    if workload in ("live", "drain"):
        return asyncio.run(_throughput(int(params["n"]), concurrency))
    if workload == "latency":
        return asyncio.run(_latency(int(params["samples"]), concurrency))
    raise Unsupported("the in-memory broker runs a task as it is kicked; no separate enqueue")
