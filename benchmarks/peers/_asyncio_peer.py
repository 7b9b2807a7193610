"""The workloads for an asyncio peer with a separate worker in the same process.

A peer supplies ``open`` (an async context manager yielding an ``AsyncPeer``): how to
enqueue a job, and how to run its worker until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from benchmarks._common import Unsupported, percentile

Handler = Callable[[Any], Awaitable[None]]


@dataclass
class AsyncPeer:
    """What the shared workloads need from one peer."""

    enqueue: Callable[[Any], Awaitable[object]]
    worker: Callable[[], Awaitable[object]]
    """Runs the worker (``concurrency`` jobs at once) until cancelled."""
    enqueue_bulk: Callable[[list[Any]], Awaitable[object]] | None = None


def _emit(metrics: dict[str, Any]) -> NoReturn:
    """Print the figure and leave at once: a peer's teardown (saq's worker sometimes
    waits ~5 s to stop) is not measured, and the runner flushes Redis before each row."""
    print("RESULT " + json.dumps(metrics), flush=True)
    os._exit(0)


Opener = Callable[[str, int, Handler], contextlib.AbstractAsyncContextManager[AsyncPeer]]


@contextlib.asynccontextmanager
async def _running(peer: AsyncPeer) -> AsyncIterator[None]:
    task = asyncio.ensure_future(peer.worker())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _throughput(opener: Opener, url: str, n: int, concurrency: int, live: bool) -> float:
    done = asyncio.Event()
    count = 0

    async def handler(_data: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    async with opener(url, concurrency, handler) as peer:
        if live:
            async with _running(peer):
                await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                for i in range(n):
                    await peer.enqueue(i)
                await done.wait()
                _emit({"seconds": time.perf_counter() - t0})
        for i in range(n):
            await peer.enqueue(i)
        t0 = time.perf_counter()
        async with _running(peer):
            await done.wait()
            _emit({"seconds": time.perf_counter() - t0})
    raise AssertionError("unreachable")


async def _enqueue(opener: Opener, url: str, n: int, bulk: bool) -> float:
    async def handler(_data: Any) -> None:
        pass

    async with opener(url, 10, handler) as peer:
        if bulk:
            if peer.enqueue_bulk is None:
                raise Unsupported("no bulk enqueue in this peer's API")
            t0 = time.perf_counter()
            for start in range(0, n, 1000):
                await peer.enqueue_bulk(list(range(start, min(n, start + 1000))))
            return time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(n):
            await peer.enqueue(i)
        return time.perf_counter() - t0


async def _latency(opener: Opener, url: str, samples: int, concurrency: int) -> dict[str, Any]:
    lat: list[float] = []
    box: list[asyncio.Event] = [asyncio.Event()]

    async def handler(t0: Any) -> None:
        lat.append(time.perf_counter() - float(t0))
        box[0].set()

    async with opener(url, concurrency, handler) as peer, _running(peer):
        await asyncio.sleep(0.2)
        for _ in range(samples):
            box[0] = asyncio.Event()
            await peer.enqueue(time.perf_counter())
            await box[0].wait()
            await asyncio.sleep(0.001)
        _emit({"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3})
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


def run_async_peer(opener: Opener, workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one shared workload against a peer."""
    url = str(params["redis_url"])
    n = int(params.get("n", 0))
    concurrency = int(params.get("concurrency", 10))
    if workload in ("live", "drain"):
        seconds = asyncio.run(_throughput(opener, url, n, concurrency, workload == "live"))
        return {"seconds": seconds}
    if workload in ("enqueue", "enqueue_bulk"):
        return {"seconds": asyncio.run(_enqueue(opener, url, n, workload == "enqueue_bulk"))}
    if workload == "latency":
        return asyncio.run(_latency(opener, url, int(params["samples"]), concurrency))
    raise Unsupported(workload)
