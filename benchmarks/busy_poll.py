"""``python -m benchmarks.busy_poll WORKLOAD [--jobs N] [--rounds R] [--settings 0,100]``:
what ``RedisQueueConfig.busy_poll_us`` does to one producer, paired in one process.

On a shared or virtual machine the speed of a process drifts by tens of percent from
one minute to the next, more than the effect measured here; runs in separate
processes then need many repetitions to agree. This benchmark instead opens one queue
per setting in one process (its own ``redis-server`` on a loopback port), and in each
round runs a block of ``N`` jobs on every queue in turn (the order alternates between
rounds). Each block's rate is divided by the first setting's block of the same round;
the median of these paired ratios is printed with their range, beside each setting's
median rate and CPU per job (``time.process_time``).

WORKLOAD is ``single`` (one producer awaiting each ``enqueue``, no consumer) or
``live`` (the same producer, and a group of 10 consumers on each queue in the same
process; a block ends when its last job has been handled).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

import trio

from ._runner import redis_server

if TYPE_CHECKING:
    from checkqueue_actors import QueueJob


async def _run(url: str, workload: str, jobs: int, rounds: int, settings: list[int]) -> None:
    from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

    rates: dict[int, list[float]] = {s: [] for s in settings}
    cpus: dict[int, list[float]] = {s: [] for s in settings}
    handled = dict.fromkeys(settings, 0)
    targets = dict.fromkeys(settings, 0)
    done = {s: trio.Event() for s in settings}

    def handler_for(setting: int) -> Any:
        async def handler(job: QueueJob[int]) -> None:
            handled[setting] += 1
            if handled[setting] == targets[setting]:
                done[setting].set()

        return handler

    async with trio.open_nursery() as nursery:
        queues: dict[int, RedisQueue[int]] = {}
        for setting in settings:
            config = RedisQueueConfig(
                url=url,
                key_prefix=f"bp{uuid.uuid4().hex[:6]}",
                busy_poll_us=setting,
                max_queue_size=10**7,
            )
            queue = queues[setting] = RedisQueue[int](f"q{setting}", config)
            await nursery.start(queue.run)
            if workload == "live":
                await queue.consume(handler_for(setting), consumer_group="g")
        await trio.sleep(0.5)
        for r in range(rounds):
            for setting in settings if r % 2 == 0 else settings[::-1]:
                queue = queues[setting]
                targets[setting] = handled[setting] + jobs
                done[setting] = trio.Event()
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(jobs):
                    await queue.enqueue(i)
                if workload == "live":
                    await done[setting].wait()
                rates[setting].append(jobs / (time.perf_counter() - wall))
                cpus[setting].append((time.process_time() - cpu) / jobs * 1e6)
        for queue in queues.values():
            await queue.stop()
        nursery.cancel_scope.cancel()
    first = settings[0]
    for setting in settings:
        ratios = [a / b for a, b in zip(rates[setting], rates[first], strict=True)]
        print(
            f"{workload} busy_poll_us={setting}: median {statistics.median(rates[setting]):,.0f}"
            f" jobs/s, CPU {statistics.median(cpus[setting]):.1f} us/job; paired ratio to"
            f" busy_poll_us={first}: median {statistics.median(ratios):.3f}"
            f" (range {min(ratios):.3f}-{max(ratios):.3f})"
        )


def main(argv: list[str] | None = None) -> int:
    """Run one workload; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.busy_poll")
    parser.add_argument("workload", choices=("single", "live"))
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per block")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--settings", default="0,100", help="busy_poll_us values")
    args = parser.parse_args(argv)
    settings = [int(x) for x in args.settings.split(",")]
    with redis_server() as url:
        if url is None:
            print("no redis-server binary: nothing measured")
            return 2
        trio.run(_run, url, args.workload, args.jobs, args.rounds, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
