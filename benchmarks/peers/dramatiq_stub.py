"""Dramatiq's StubBroker with a ``Worker`` of ``concurrency`` threads, through its public API.

``dramatiq_redis`` runs the same code on a RedisBroker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks._common import Unsupported, percentile


def _setup(url: str | None) -> tuple[Any, Any]:
    import dramatiq

    if url is None:
        from dramatiq.brokers.stub import StubBroker

        broker = StubBroker()
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return dramatiq, broker


def _throughput(url: str | None, n: int, concurrency: int, live: bool) -> dict[str, Any]:
    dramatiq, broker = _setup(url)
    from dramatiq import Worker

    done = threading.Event()
    lock = threading.Lock()
    count = 0

    @dramatiq.actor(max_retries=0)
    def noop(i: int) -> None:
        nonlocal count
        with lock:
            count += 1
            if count == n:
                done.set()

    worker = Worker(broker, worker_threads=concurrency, worker_timeout=100)
    if live:
        worker.start()
        t0 = time.perf_counter()
        for i in range(n):
            noop.send(i)
    else:
        for i in range(n):
            noop.send(i)
        t0 = time.perf_counter()
        worker.start()
    done.wait()
    seconds = time.perf_counter() - t0
    worker.stop()
    broker.close()
    return {"seconds": seconds}


def _enqueue(url: str | None, n: int) -> dict[str, Any]:
    dramatiq, broker = _setup(url)

    @dramatiq.actor(max_retries=0)
    def noop(i: int) -> None:
        pass

    t0 = time.perf_counter()
    for i in range(n):
        noop.send(i)
    seconds = time.perf_counter() - t0
    broker.close()
    return {"seconds": seconds}


def _latency(url: str | None, samples: int, concurrency: int) -> dict[str, Any]:
    dramatiq, broker = _setup(url)
    from dramatiq import Worker

    lat: list[float] = []
    ran = threading.Event()

    @dramatiq.actor(max_retries=0)
    def stamp(t0: float) -> None:
        lat.append(time.perf_counter() - t0)
        ran.set()

    worker = Worker(broker, worker_threads=concurrency, worker_timeout=100)
    worker.start()
    for _ in range(samples):
        ran.clear()
        stamp.send(time.perf_counter())
        ran.wait()
        time.sleep(0.0005)
    worker.stop()
    broker.close()
    return {"p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3}


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    return run_with(None, workload, params)


def run_with(url: str | None, workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload on a StubBroker (``url`` None) or a RedisBroker."""
    concurrency = int(params.get("concurrency", 10))
    if workload in ("live", "drain"):
        return _throughput(url, int(params["n"]), concurrency, workload == "live")
    if workload == "enqueue":
        return _enqueue(url, int(params["n"]))
    if workload == "latency":
        return _latency(url, int(params["samples"]), concurrency)
    raise Unsupported("dramatiq has no bulk enqueue")
