"""Backend switching: proxies, subscription replay, migration of recurring and pending jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueueConfig,
    QueueJob,
    QueuePluginRegistry,
    QueueProxy,
    RecurringJobDetails,
    open_queue_manager,
)


async def test_get_queue_returns_the_same_proxy_before_and_after_a_switch(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """get_queue is synchronous, usable at once, and stable across a switch."""
    seen: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        seen.append(job.data)

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("emails")
            assert isinstance(proxy, QueueProxy)
            assert manager.get_queue("emails") is proxy
            assert manager.get_queue("other") is not proxy
            # usable at once: the delegate has not started yet, the calls wait for it
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue(1)
            await trio.sleep(1)
            result = await manager.set_active_backend("memory2", {"concurrency": 2})
            assert result.success
            assert manager.get_queue("emails") is proxy
            assert manager.get_active_plugin() == "memory2"
            assert manager.get_active_config() == InMemoryQueueConfig(concurrency=2)
            await proxy.enqueue(2)
            await trio.sleep(1)
    assert seen == [1, 2]
