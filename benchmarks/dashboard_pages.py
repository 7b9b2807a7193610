"""``python -m benchmarks.dashboard_pages``: server time of every dashboard page and API
endpoint over one in-memory queue holding 10,000 jobs.

The queue (through a ``QueueManager``) holds ``--jobs`` jobs for two consumer groups:
most waiting (its groups are paused), 500 delayed, 200 failed in one group, and a
recurring schedule. Each page is requested ``--runs`` times through an in-process
ASGI client (no network, no browser: the figure is the app's own time, rendering
included); the figures are the median and the maximum per page, in milliseconds.

Options: ``--jobs N`` (default 10,000), ``--runs N`` (default 20).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any

import httpx
import trio

from checkqueue_actors import QueueJob, QueuePluginRegistry, open_queue_manager
from checkqueue_actors.dashboard import create_app

PAGES = (
    "/",
    "/queue?name=big",
    "/jobs?queue=big",
    "/jobs?queue=big&state=waiting&group=workers&page=20",
    "/jobs?queue=big&state=delayed",
    "/job?queue=big&id=job-05000",
    "/failed?queue=big",
    "/api/queues",
    "/api/queue?name=big",
    "/api/jobs?queue=big&state=waiting",
    "/api/failed?queue=big",
)


async def _fill(manager: Any, jobs: int) -> None:
    queue = manager.get_queue("big")
    failing = 200

    async def handler(job: QueueJob[Any]) -> None:
        if job.data["n"] < failing:
            raise RuntimeError(f"job {job.data['n']} failed")

    await queue.consume(handler, consumer_group="workers", max_retries=0)
    await queue.consume(handler, consumer_group="auditors", max_retries=0)
    await queue.pause("auditors")
    for n in range(failing):
        await queue.enqueue({"n": n}, job_id=f"fail-{n:05d}")
    with trio.fail_after(60):
        while len(await queue.get_failed_jobs(limit=failing)) < failing:  # noqa: ASYNC110
            await trio.sleep(0.01)
    await queue.pause("workers")
    for n in range(failing, jobs - 500):
        await queue.enqueue({"n": n, "to": f"user{n}@example.org"}, job_id=f"job-{n:05d}")
    for n in range(jobs - 500, jobs):
        await queue.enqueue({"n": n}, job_id=f"later-{n:05d}", start_delay=3600)
    await queue.schedule_recurring({"n": -1}, job_id="nightly", cron_pattern="0 3 * * *")


async def _main(jobs: int, runs: int) -> None:
    async with open_queue_manager(QueuePluginRegistry()) as manager:
        await _fill(manager, jobs)
        stats = await manager.get_queue("big").get_stats()
        print(f"queue 'big': {stats}")
        app = create_app(manager, token="t")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                print(f"{'page':<56}{'median ms':>10}{'max ms':>10}")
                for url in PAGES:
                    times: list[float] = []
                    for _ in range(runs):
                        start = time.perf_counter()
                        reply = await client.get(url)
                        times.append((time.perf_counter() - start) * 1000)
                        assert reply.status_code == 200, (url, reply.status_code)
                    print(f"{url:<56}{statistics.median(times):>10.1f}{max(times):>10.1f}")


def main() -> None:
    """Parse the options and print one row per page."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_pages")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("checkqueue_actors").setLevel(logging.ERROR)  # the 200 failures
    trio.run(_main, args.jobs, args.runs)


if __name__ == "__main__":
    main()
