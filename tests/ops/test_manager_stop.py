"""What the worker relies on in the manager: its queues and groups, and a stop made shorter."""

from __future__ import annotations

import math
from typing import Any

import trio
import trio.testing

from checkqueue_actors import InMemoryQueuePlugin, QueueJob, QueuePluginRegistry, open_queue_manager


def _registry() -> QueuePluginRegistry:
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    return registry


async def test_a_second_shutdown_shortens_the_grace_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """shutdown() waiting for a long handler; shutdown(grace_period=0) cancels it now."""
    ended: list[str] = []

    async def handler(job: QueueJob[Any]) -> None:
        try:
            await trio.sleep(3600)
            ended.append("finished")
        except trio.Cancelled:
            ended.append("cancelled")
            raise

    async with open_queue_manager(_registry()) as manager:
        queue = manager.get_queue("q")
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("x")
        await trio.sleep(1)
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: manager.shutdown(grace_period=math.inf))
            await trio.sleep(5)
            assert ended == []
            await manager.shutdown(grace_period=0)
        assert ended == ["cancelled"]
        assert trio.current_time() - started == 5


async def test_queues_and_their_groups_are_listed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """get_queues() in creation order; consumer_groups counts consumers per group."""

    async def handler(job: QueueJob[Any]) -> None:
        pass

    async with open_queue_manager(_registry()) as manager:
        first = manager.get_queue("first")
        second = manager.get_queue("second")
        await first.consume(handler, consumer_group="a")
        await first.consume(handler, consumer_group="b")
        await first.consume(handler, consumer_group="a")
        assert manager.get_queues() == [first, second]
        assert first.consumer_groups == {"a": 2, "b": 1}
        assert second.consumer_groups == {}
        await second.stop()
        assert manager.get_queues() == [first]
