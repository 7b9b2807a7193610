"""A worker process for multi-process and fault tests: ``python -m tests.redis.agent ...``.

It consumes one queue (and optionally declares a recurring job) and appends one
line per event to its own ledger file, with one ``os.write`` on an ``O_APPEND``
descriptor, so a SIGKILLed process loses no line it had written (Jepsen-style
ledgers)::

    start <job id> <group> <attempts> <pid>
    done <job id> <group> <pid>
    cancelled <job id> <group> <pid>      (its handler saw trio.Cancelled)

SIGTERM stops the queue gracefully. A job whose data is ``{"kill": true}``
SIGKILLs its own process when it starts (a poison job); one whose data holds
``"work"`` works that many seconds instead of ``--work``.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import TYPE_CHECKING, Any, cast

import trio

from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

if TYPE_CHECKING:
    from checkqueue_actors import QueueJob


def _ledger(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


async def main(args: argparse.Namespace) -> None:
    """Run the agent until SIGTERM."""
    config = RedisQueueConfig(
        url=args.url,
        key_prefix=args.prefix,
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        liveness_seconds=args.liveness,
        delay_multiplier=0.01,
        connect_timeout=1.0,
        stream_timeout=2.0,
        poll_interval_ms=200,
        max_stalls=args.max_stalls,
    )
    queue = RedisQueue[Any](args.queue, config)
    fd = _ledger(args.ledger)
    pid = os.getpid()

    def write(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    def handler_for(group: str) -> Any:
        async def handler(job: QueueJob[Any]) -> None:
            write(f"start {job.id} {group} {job.attempts} {pid}")
            data: object = job.data
            work = args.work
            if isinstance(data, dict):
                options = cast("dict[str, object]", data)
                if options.get("kill"):
                    os.kill(pid, signal.SIGKILL)
                if isinstance(options.get("work"), int | float):
                    work = float(cast("float", options["work"]))
            try:
                await trio.sleep(work)
            except trio.Cancelled:
                write(f"cancelled {job.id} {group} {pid}")
                raise
            write(f"done {job.id} {group} {pid}")

        return handler

    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with queue:
            for group in args.group:
                await queue.consume(
                    handler_for(group),
                    consumer_group=group,
                    max_retries=3,
                    timeout=args.timeout or None,
                )
            if args.schedule_interval:
                await queue.schedule_recurring(
                    {"tick": True},
                    job_id="tick",
                    interval_seconds=args.schedule_interval,
                )
            write(f"ready - - - {pid}")
            async for _ in signals:
                break
    os.close(fd)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--queue", default="q")
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--liveness", type=float, default=1.0)
    parser.add_argument("--work", type=float, default=0.0)
    parser.add_argument("--max-stalls", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=0.0, help="the groups' timeout (0: none)")
    parser.add_argument("--schedule-interval", type=float, default=0.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse())
