"""``python -m benchmarks.list_jobs``: inspecting a big Redis queue (``get_job``, ``list_jobs``).

Starts a throwaway loopback redis-server (no persistence), fills one queue with two
consumer groups and ``--jobs`` jobs (default 1,000,000) through the Redis storage's
``enqueue_many`` in batches of 1,000: priorities -1, 0, 1 and 5 in turn, one batch in
ten delayed by an hour. Then 1,000 jobs are claimed in group ``a``: half of them are
retried (an hour's backoff), half stay running. Every job waits in both groups, or is
delayed for both, so the ready sets, the delayed set and the job hashes are all big.

Then times, ``--runs`` times each (default 20), interleaved, the calls the queue's
``get_job`` and ``list_jobs`` make to the storage (``RedisStorage.job_info`` and
``RedisStorage.list_jobs``, one script each) with ``limit=100``; prints the median and
the slowest, in milliseconds, with the round trip of a ``PING`` for scale. The target
is under 50 ms for each.

Options: ``--jobs N``, ``--runs N``, ``--limit N``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

import trio

from benchmarks._runner import redis_server
from checkqueue_actors._backends.redis._storage import RedisStorage
from checkqueue_actors._storage import NewJob, Settle
from checkqueue_actors.redis import RedisQueueConfig

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_BATCH = 1000
_PRIORITIES = (-1, 0, 1, 5)
_HOUR = 3600.0
_TARGET_MS = 50.0


async def _fill(storage: RedisStorage, jobs: int) -> float:
    """Enqueue ``jobs`` jobs (see the module docstring); seconds it took."""
    start = time.perf_counter()
    for first in range(0, jobs, _BATCH):
        k = first // _BATCH
        priority = _PRIORITIES[k % len(_PRIORITIES)]
        delay = _HOUR if k % 10 == 9 else 0.0
        batch = [
            NewJob(f"job-{i:07}", storage.encode({"n": i}), priority, delay)
            for i in range(first, min(first + _BATCH, jobs))
        ]
        await storage.enqueue_many(batch)
    return time.perf_counter() - start


async def _claim_some(storage: RedisStorage, n: int) -> None:
    """Claim ``n`` jobs in group ``a``; retry half of them an hour later, keep half."""
    ticket = await storage.send_claim("a", n, ())
    deliveries = await storage.receive_claim(ticket)
    half = deliveries[: len(deliveries) // 2]
    await storage.settle([(d, Settle.RETRY, (_HOUR, "RuntimeError: benchmark")) for d in half])


async def _run(url: str, jobs: int, runs: int, limit: int) -> None:
    config = RedisQueueConfig(
        url=url, key_prefix=f"b{uuid.uuid4().hex[:8]}", max_queue_size=jobs + _BATCH
    )
    storage = RedisStorage("bench", config, None)
    await storage.open()
    try:
        await storage.register_group("a", 3)
        await storage.register_group("b", 3)
        filled = await _fill(storage, jobs)
        await _claim_some(storage, min(1000, max(2, jobs // 10)))
        stats = await storage.stats()
        some_id = f"job-{jobs // 2:07}"
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_job(id)": lambda: storage.job_info(some_id),
            "list_jobs() (any state)": lambda: storage.list_jobs(None, None, limit),
            'list_jobs(state="waiting")': lambda: storage.list_jobs("waiting", None, limit),
            'list_jobs(state="waiting", group="a")': lambda: storage.list_jobs(
                "waiting", "a", limit
            ),
            'list_jobs(group="b") (any state)': lambda: storage.list_jobs(None, "b", limit),
            'list_jobs(state="delayed")': lambda: storage.list_jobs("delayed", None, limit),
            'list_jobs(state="retrying")': lambda: storage.list_jobs("retrying", None, limit),
            'list_jobs(state="running")': lambda: storage.list_jobs("running", None, limit),
        }
        async with storage._connection() as client:  # pyright: ignore[reportPrivateUsage]
            ping = await _time(client.ping, runs)
        times: dict[str, list[float]] = {name: [] for name in calls}
        shown: dict[str, int] = {}
        for name, call in calls.items():  # warm up: scripts loaded
            shown[name] = len(list(await call()) if name != "get_job(id)" else [await call()])
        for _ in range(runs):
            for name, call in calls.items():
                start = time.perf_counter()
                await call()
                times[name].append((time.perf_counter() - start) * 1000)
    finally:
        await storage.close()
    print(
        f"one Redis queue, 2 groups, {jobs:,} jobs (filled in {filled:.1f} s: "
        f"{jobs / filled:,.0f} jobs/s); pending {stats.pending:,}, running "
        f"{stats.processing:,}; limit={limit}; median of {runs} runs (cpus: {os.cpu_count()})"
    )
    print(f"PING round trip: median {statistics.median(ping):.2f} ms")
    print()
    print("| call | jobs returned | median ms | max ms | under 50 ms |")
    print("|---|---:|---:|---:|---|")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "yes" if median < _TARGET_MS else "**no**"
        print(f"| `{name}` | {shown[name]} | {median:.2f} | {max(values):.2f} | {verdict} |")


async def _time(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    out: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    """Fill, measure and print the figures; 1 when no redis-server could be started."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.list_jobs", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    logging.getLogger("checkqueue_actors").setLevel(logging.ERROR)  # no "without appendonly"
    with redis_server() as url:
        if url is None:
            print("no redis-server binary: nothing measured")
            return 1
        trio.run(_run, url, args.jobs, args.runs, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
