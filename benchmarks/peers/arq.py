"""arq: ``ArqRedis.enqueue_job`` and an in-process ``Worker`` (``max_jobs`` = concurrency)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from arq import Worker, create_pool
from arq.connections import RedisSettings
from arq.worker import func

from benchmarks.peers._asyncio_peer import AsyncPeer, Handler, run_async_peer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _open(url: str, concurrency: int, handler: Handler) -> AsyncIterator[AsyncPeer]:
    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings)

    async def noop(ctx: dict[str, Any], data: Any) -> None:
        await handler(data)

    worker = Worker(
        functions=[func(noop, name="noop")],
        redis_pool=pool,
        max_jobs=concurrency,
        handle_signals=False,
        keep_result=0,
    )

    async def enqueue(data: Any) -> object:
        return await pool.enqueue_job("noop", data)

    try:
        yield AsyncPeer(enqueue=enqueue, worker=worker.async_run)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()  # re-raises the cancellation of jobs cut short
        await pool.aclose()


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``).

    arq's worker polls Redis every ``poll_delay`` (0.5 s by default), so each latency
    sample takes about that long: at most 20 samples are taken.
    """
    if workload == "latency":
        params = {**params, "samples": min(20, int(params["samples"]))}
    return run_async_peer(_open, workload, params)
