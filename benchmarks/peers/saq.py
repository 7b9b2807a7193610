"""SAQ: ``Queue.enqueue`` and an in-process ``Worker`` (``concurrency`` jobs at once)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from saq import Queue, Worker

from benchmarks.peers._asyncio_peer import AsyncPeer, Handler, run_async_peer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _open(url: str, concurrency: int, handler: Handler) -> AsyncIterator[AsyncPeer]:
    queue = Queue.from_url(url, name="cqbench")
    await queue.connect()

    async def noop(ctx: dict[str, Any], *, data: Any) -> None:
        await handler(data)

    # no grace period at stop: the figure is taken by then (saq would wait ~5 s)
    worker = Worker(
        queue, functions=[("noop", noop)], concurrency=concurrency, shutdown_grace_period_s=0
    )

    async def enqueue(data: Any) -> object:
        return await queue.enqueue("noop", data=data)

    try:
        yield AsyncPeer(enqueue=enqueue, worker=worker.start)
    finally:
        await worker.stop()
        await queue.disconnect()


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    return run_async_peer(_open, workload, params)
