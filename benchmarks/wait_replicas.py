"""``python -m benchmarks.wait_replicas``: the cost of ``RedisQueueConfig.wait_replicas``.

Starts a throwaway loopback master and one replica of it (``--replicaof``, no
persistence), then measures, for ``wait_replicas`` 0 and 1, the rate of single
``enqueue`` calls made one after another by one task, and of ``enqueue_many`` in
batches of 1,000. Runs are interleaved (0, 1, 0, 1, ...); the figure is the median.
Both servers are stopped at the end.

Options: ``--jobs N`` (single enqueues per run, default 5,000), ``--runs N`` (default 5).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import trio

from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

_BULK = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int, *words: str) -> bytes:
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload.encode())
        return sock.recv(65536)


@contextmanager
def _server(*extra: str) -> Iterator[int]:
    """A loopback redis-server without persistence; yields its port."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="cq-bench-wait-")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
         "no", "--dir", workdir, "--loglevel", "warning", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if _command(port, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


async def _run(port: int, wait_replicas: int, jobs: int) -> tuple[float, float]:
    """Single enqueues per second, then bulk-enqueued jobs per second."""
    config = RedisQueueConfig(
        url=f"redis://127.0.0.1:{port}/0",
        key_prefix=f"b{uuid.uuid4().hex[:8]}",
        max_queue_size=10 * jobs + 10 * _BULK,
        wait_replicas=wait_replicas,
    )
    async with RedisQueue[Any]("bench", config) as queue:
        for i in range(100):  # warm up: connections, scripts
            await queue.enqueue(i)
        t0 = time.perf_counter()
        for i in range(jobs):
            await queue.enqueue(i)
        single = jobs / (time.perf_counter() - t0)
        batch = list(range(_BULK))
        t0 = time.perf_counter()
        for _ in range(10):
            await queue.enqueue_many(batch)
        bulk = 10 * _BULK / (time.perf_counter() - t0)
    return single, bulk


def main(argv: list[str] | None = None) -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wait_replicas", description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger("checkqueue_actors").setLevel(logging.ERROR)  # no "without appendonly"
    figures: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    with ExitStack() as stack:
        master = stack.enter_context(_server())
        replica = stack.enter_context(_server("--replicaof", "127.0.0.1", str(master)))
        deadline = time.monotonic() + 10
        while b"master_link_status:up" not in _command(replica, "INFO", "replication"):
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not link to its master")
            time.sleep(0.05)
        for _ in range(args.runs):
            for wait in (0, 1):
                figures[wait].append(trio.run(_run, master, wait, args.jobs))
                _command(master, "FLUSHALL")
    print(f"loopback master + 1 replica, {args.jobs} single enqueues, 10 x enqueue_many(1000),")
    print(f"median of {args.runs} runs (cpus: {os.cpu_count()})")
    base_single = statistics.median(s for s, _ in figures[0])
    base_bulk = statistics.median(b for _, b in figures[0])
    for wait, rows in figures.items():
        single = statistics.median(s for s, _ in rows)
        bulk = statistics.median(b for _, b in rows)
        print(
            f"wait_replicas={wait}: enqueue {single:,.0f}/s ({1e6 / single:.0f} us each, "
            f"x{single / base_single:.2f}); enqueue_many {bulk:,.0f} jobs/s "
            f"(x{bulk / base_bulk:.2f})"
        )


if __name__ == "__main__":
    main()
