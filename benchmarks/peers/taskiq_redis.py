"""taskiq with taskiq-redis's ListQueueBroker; the worker is taskiq's ``run_receiver_task``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from taskiq.api import run_receiver_task
from taskiq_redis import ListQueueBroker

from benchmarks.peers._asyncio_peer import AsyncPeer, Handler, run_async_peer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _open(url: str, concurrency: int, handler: Handler) -> AsyncIterator[AsyncPeer]:
    broker = ListQueueBroker(url=url, queue_name="cqbench")

    @broker.task(task_name="noop")
    async def noop(data: Any) -> None:
        await handler(data)

    await broker.startup()
    try:
        yield AsyncPeer(
            enqueue=noop.kiq,
            worker=lambda: run_receiver_task(broker, max_async_tasks=concurrency),
        )
    finally:
        await broker.shutdown()


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    return run_async_peer(_open, workload, params)
