"""``python -m checkqueue_actors demo``: a short, self-explaining tour on the in-memory backend.

Modelled on the seed's usage patterns: recurring health checks shared by a
work-queue group, a broadcast group per simulated instance, urgent exports
jumping a backlog, a flaky handler recovering through retries, and a live
backend switch through the QueueManager while jobs flow. It runs on
the real clock in under ten seconds and ends with a stats table.
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO

import trio

from ._backends.memory import InMemoryQueue, InMemoryQueueConfig
from ._demo_switch import switch_scene

if TYPE_CHECKING:
    from ._model import QueueJob, QueueStats

__all__ = ["main"]

_FAST = InMemoryQueueConfig(delay_multiplier=0.25, heartbeat_interval_ms=1000)
"""Every delay, backoff and interval runs four times faster than written."""


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._t0 = trio.current_time()

    def __call__(self, text: str) -> None:
        elapsed = trio.current_time() - self._t0
        self._out.write(f"[{elapsed:6.2f}s] {text}\n")
        self._out.flush()

    def heading(self, text: str) -> None:
        self._out.write(f"\n== {text}\n")
        self._out.flush()


async def _health_checks(say: _Printer, queue: InMemoryQueue[dict[str, str]]) -> None:
    say.heading("1. Recurring health checks, shared by a work-queue group")
    say("two workers join group 'health-checks'; each check runs on ONE of them")
    runs: Counter[str] = Counter()

    def worker(name: str) -> Any:
        async def check(job: QueueJob[dict[str, str]]) -> None:
            runs[name] += 1
            say(f"  {name} checks {job.data['system']} (occurrence {job.id.split(':', 2)[-1]})")
            await trio.sleep(0.05)

        return check

    await queue.consume(worker("worker-1"), consumer_group="health-checks", max_retries=0)
    await queue.consume(worker("worker-2"), consumer_group="health-checks", max_retries=0)
    # declared by "every instance" at start-up: the identical second call changes nothing
    for _ in range(2):
        await queue.schedule_recurring(
            {"system": "db-primary"}, job_id="healthcheck:db-primary", interval_seconds=4
        )
    await trio.sleep(3.1)
    await queue.cancel_recurring("healthcheck:db-primary")
    say(f"cancelled; runs per worker: {dict(runs)} (round-robin, no duplicates)")


async def _broadcast(say: _Printer, queue: InMemoryQueue[dict[str, object]]) -> None:
    say.heading("2. Broadcast: one group per instance, every instance gets every message")
    seen: dict[str, list[str]] = {}

    def instance(name: str) -> Any:
        async def sync(job: QueueJob[dict[str, object]]) -> None:
            seen.setdefault(name, []).append(str(job.data["user"]))

        return sync

    for name in ("instance-A", "instance-B", "instance-C"):
        await queue.consume(instance(name), consumer_group=f"access-sync:{name}")
    for user in ("alice", "bob"):
        await queue.enqueue({"user": user, "roles": ["editor"]})
        say(f"enqueued one access-sync message for {user}")
    await trio.sleep(0.3)
    for name, users in sorted(seen.items()):
        say(f"  {name} refreshed {users}")


async def _priorities(say: _Printer, queue: InMemoryQueue[str]) -> None:
    say.heading("3. Priorities: an urgent export jumps a backlog (concurrency 2)")
    order: list[str] = []

    async def export(job: QueueJob[str]) -> None:
        order.append(job.data)
        await trio.sleep(0.1)

    for i in range(8):
        await queue.enqueue(f"routine-{i}")
    await queue.consume(export, consumer_group="exports")
    await trio.sleep(0.15)
    await queue.enqueue("URGENT user export", priority=100)
    say("enqueued 'URGENT user export' with priority 100 behind 8 routine exports")
    await trio.sleep(0.6)
    say(f"  start order: {order}")
    say(f"  the urgent export started as number {order.index('URGENT user export') + 1}")


async def _retries(say: _Printer, queue: InMemoryQueue[str]) -> None:
    say.heading("4. A flaky network call recovers through retries with backoff")
    attempts: list[float] = []
    delivered = trio.Event()

    async def flaky(job: QueueJob[str]) -> None:
        attempts.append(trio.current_time())
        if job.attempts < 2:
            say(f"  attempt {job.attempts + 1}: connection reset (will retry)")
            msg = "peer reset the connection"
            raise ConnectionResetError(msg)
        say(f"  attempt {job.attempts + 1}: delivered to {job.data}")
        delivered.set()

    await queue.consume(flaky, consumer_group="webhooks", max_retries=3)
    await queue.enqueue("https://example.invalid/hook")
    with trio.move_on_after(3):
        await delivered.wait()
    gaps = [f"{b - a:.2f}s" for a, b in itertools.pairwise(attempts)]
    say(f"  gaps between attempts: {gaps} (2 s and 4 s, times delay_multiplier 0.25)")


def _table(rows: list[tuple[str, QueueStats]], out: TextIO) -> None:
    out.write("\n== Stats\n")
    header = ("queue", "pending", "processing", "completed", "failed", "groups")
    out.write(f"{header[0]:<14}" + "".join(f"{h:>11}" for h in header[1:]) + "\n")
    for name, s in rows:
        values = (s.pending, s.processing, s.completed, s.failed, s.consumer_groups)
        out.write(f"{name:<14}" + "".join(f"{v:>11}" for v in values) + "\n")


async def _demo(out: TextIO, *, dashboard: bool = False) -> None:
    say = _Printer(out)
    out.write("checkqueue_actors demo: in-memory backend, real clock, delays x0.25\n")
    health: InMemoryQueue[dict[str, str]] = InMemoryQueue("health-checks", _FAST)
    access: InMemoryQueue[dict[str, object]] = InMemoryQueue("access-sync", _FAST)
    exports: InMemoryQueue[str] = InMemoryQueue(
        "exports", InMemoryQueueConfig(concurrency=2, delay_multiplier=0.25)
    )
    hooks: InMemoryQueue[str] = InMemoryQueue("webhooks", _FAST)
    async with health, access, exports, hooks, trio.open_nursery() as nursery:
        if dashboard:
            await _serve_dashboard(nursery, [health, access, exports, hooks], out)
        await _health_checks(say, health)
        await _broadcast(say, access)
        await _priorities(say, exports)
        await _retries(say, hooks)
        say.heading("5. A live backend switch through the QueueManager, jobs still flowing")
        await switch_scene(say)
        rows = [(queue.name, await queue.get_stats()) for queue in (health, access, exports, hooks)]
        if dashboard:
            out.write("\nthe dashboard stays up: press Ctrl+C to stop\n")
            out.flush()
            try:
                await trio.sleep_forever()
            finally:
                nursery.cancel_scope.cancel()
    _table(rows, out)


async def _serve_dashboard(nursery: trio.Nursery, queues: list[Any], out: TextIO) -> None:
    """Serve a read-only dashboard of ``queues`` on 127.0.0.1 (port 8765, or any free
    one) in ``nursery``, and print its URL."""
    from .dashboard import create_app
    from .dashboard._command import serve

    app = create_app(queues, read_only=True, sample_interval=1.0, title="checkqueue demo")
    try:
        urls: list[str] = await nursery.start(serve, app, "127.0.0.1", 8765)
    except OSError:  # 8765 is taken
        urls = await nursery.start(serve, app, "127.0.0.1", 0)
    out.write(f"dashboard (read-only): {urls[0]}/\n")
    out.flush()


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the demo (``--dashboard``: serve a read-only dashboard of its queues while it
    runs, and until Ctrl+C); returns the process exit code."""
    dashboard = "--dashboard" in (argv or [])
    try:
        trio.run(partial(_demo, dashboard=dashboard), out if out is not None else sys.stdout)
    except KeyboardInterrupt:
        if not dashboard:
            raise
    return 0
