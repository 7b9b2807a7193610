"""The baseline: a bare trio memory channel, ``concurrency`` worker tasks calling the handler.

No queue at all: what a trio program pays to hand an item from one task to another.
"""

from __future__ import annotations

import math
import random
import time
import tracemalloc
from typing import Any

import trio
import trio.lowlevel

from benchmarks._common import Unsupported, cpu_seconds, percentile


async def _noop(item: object) -> None:
    pass


async def _workers(
    recv: trio.MemoryReceiveChannel[Any], concurrency: int, n: int, done: trio.Event
) -> None:
    count = 0

    async def worker() -> None:
        nonlocal count
        async for item in recv:
            await _noop(item)
            count += 1
            if count == n:
                done.set()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)


async def _live(n: int, concurrency: int) -> dict[str, Any]:
    send, recv = trio.open_memory_channel[Any](math.inf)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_workers, recv, concurrency, n, done)
        await trio.lowlevel.checkpoint()
        t0 = time.perf_counter()
        for i in range(n):
            await send.send(i)
        await done.wait()
        seconds = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": seconds}


async def _drain(n: int, concurrency: int) -> dict[str, Any]:
    send, recv = trio.open_memory_channel[Any](math.inf)
    for i in range(n):
        send.send_nowait(i)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        t0 = time.perf_counter()
        nursery.start_soon(_workers, recv, concurrency, n, done)
        await done.wait()
        seconds = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": seconds}


async def _enqueue(n: int) -> dict[str, Any]:
    send, _recv = trio.open_memory_channel[Any](math.inf)
    t0 = time.perf_counter()
    for i in range(n):
        await send.send(i)
    return {"seconds": time.perf_counter() - t0}


async def _latency(samples: int, concurrency: int) -> dict[str, Any]:
    send, recv = trio.open_memory_channel[Any](math.inf)
    lat: list[float] = []
    box: list[trio.Event] = [trio.Event()]

    async def worker() -> None:
        async for t0 in recv:
            lat.append(time.perf_counter() - t0)
            box[0].set()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
        for _ in range(samples):
            box[0] = trio.Event()
            await send.send(time.perf_counter())
            await box[0].wait()
            await trio.sleep(0.0005)  # idle between jobs
        nursery.cancel_scope.cancel()
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


async def _timers(n: int, gap: float, spread: float, seed: int) -> dict[str, Any]:
    """``n`` tasks each sleeping until a random deadline: trio's own timer cost."""
    rng = random.Random(seed)
    late: list[float] = []
    start = trio.current_time()
    deadlines = [start + gap + rng.random() * spread for _ in range(n)]

    async def sleeper(deadline: float) -> None:
        await trio.sleep_until(deadline)
        late.append(trio.current_time() - deadline)

    async with trio.open_nursery() as nursery:
        for deadline in deadlines:
            nursery.start_soon(sleeper, deadline)
        await trio.lowlevel.checkpoint()
        cpu0, wall0 = cpu_seconds(), trio.current_time()
        await trio.sleep_until(start + gap * 0.9)
        cpu_idle = (cpu_seconds() - cpu0) / (trio.current_time() - wall0)
        cpu1 = cpu_seconds()
    cpu_total = cpu_seconds() - cpu1
    return {
        "late_p50_ms": percentile(late, 50) * 1e3,
        "late_p99_ms": percentile(late, 99) * 1e3,
        "cpu_idle_share": cpu_idle,
        "cpu_per_timer_us": cpu_total / n * 1e6,
    }


def _memory(n: int) -> dict[str, Any]:
    """Bytes per item held in a channel buffer (the same payload our queue stores)."""
    tracemalloc.start()
    send, recv = trio.open_memory_channel[Any](math.inf)
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        send.send_nowait({"i": i})
    held = tracemalloc.get_traced_memory()[0] - before
    for _ in range(n):
        recv.receive_nowait()
    after = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"bytes_per_pending": held / n, "bytes_after_drain": after}


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    n = int(params.get("n", 0))
    concurrency = int(params.get("concurrency", 10))
    if workload == "live":
        return trio.run(_live, n, concurrency)
    if workload == "drain":
        return trio.run(_drain, n, concurrency)
    if workload == "enqueue":
        return trio.run(_enqueue, n)
    if workload == "latency":
        return trio.run(_latency, int(params["samples"]), concurrency)
    if workload == "timers":
        return trio.run(
            _timers, n, float(params["gap"]), float(params["spread"]), int(params.get("seed", 1))
        )
    if workload == "memory":
        return _memory(n)
    raise Unsupported(workload)
