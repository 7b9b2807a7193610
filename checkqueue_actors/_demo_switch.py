"""Demo scene: switch backends while jobs flow (issue 4), for the demo to call.

``await switch_scene(print)`` opens a manager on the in-memory backend, starts
two competing consumers and a recurring job, and switches to the in-memory
backend with another config halfway through a stream of jobs. It prints the
``SwitchResult`` and shows that every job ran exactly once. It runs on the
real clock in about two seconds.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import trio

from ._backends.memory import InMemoryQueueConfig, InMemoryQueuePlugin
from ._manager import open_queue_manager
from ._plugins import QueuePluginRegistry
from ._stores import MemoryConfigStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._model import QueueJob

__all__ = ["switch_scene"]

_JOBS = 40


async def switch_scene(print_fn: Callable[[str], object]) -> None:
    """Run the backend-switch scene, printing what happens through ``print_fn``."""
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    runs: Counter[int] = Counter()
    ticks: list[float] = []
    all_done = trio.Event()

    async def worker(job: QueueJob[int]) -> None:
        await trio.sleep(0.05)  # some real work
        runs[job.data] += 1
        if len(runs) == _JOBS:
            all_done.set()

    async def heartbeat(job: QueueJob[str]) -> None:
        ticks.append(trio.current_time())

    async with open_queue_manager(
        registry,
        config_store=MemoryConfigStore(),
        default_config=InMemoryQueueConfig(concurrency=2),
    ) as manager:
        emails = manager.get_queue("emails")  # a stable reference for the whole run
        beats = manager.get_queue("heartbeat")
        await emails.consume(worker, consumer_group="senders")
        await emails.consume(worker, consumer_group="senders")
        await beats.consume(heartbeat, consumer_group="monitor")
        await beats.schedule_recurring("ping", job_id="ping", interval_seconds=0.25)
        print_fn(
            f"[switch] active backend: {manager.get_active_plugin()} {manager.get_active_config()}"
        )

        async def produce() -> None:
            for i in range(_JOBS):
                await emails.enqueue(i, start_delay=0.2 if i % 4 == 0 else None)
                await trio.sleep(0.02)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            await trio.sleep(0.4)  # jobs are running, waiting and delayed right now
            print_fn(f"[switch] {sum(runs.values())}/{_JOBS} jobs done; switching backend...")
            result = await manager.set_active_backend("memory", InMemoryQueueConfig(concurrency=5))
            print_fn(f"[switch] {result}")
            print_fn(
                f"[switch] now on {manager.get_active_plugin()} {manager.get_active_config()} "
                f"(config version {manager.version})"
            )
        with trio.move_on_after(5):
            await all_done.wait()
        await trio.sleep(0.3)
        twice = sorted(job for job, count in runs.items() if count > 1)
        missing = sorted(set(range(_JOBS)) - set(runs))
        print_fn(
            f"[switch] {len(runs)}/{_JOBS} jobs ran; run twice: {twice or 'none'}; "
            f"lost: {missing or 'none'}; heartbeat ticks: {len(ticks)}; "
            f"recurring jobs: {[i.job_id for i in await manager.list_all_recurring_jobs()]}"
        )
