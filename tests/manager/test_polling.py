"""Several managers coordinating through a shared config store; shutdown."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueueConfig,
    MemoryConfigStore,
    QueueJob,
    QueuePluginRegistry,
    QueueStoppedError,
    open_queue_manager,
)

from .conftest import memory_plugin

if TYPE_CHECKING:
    from .conftest import SecondMemoryPlugin


async def test_two_managers_follow_each_other_through_polling(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A polling manager switches itself to a newer choice, migrating its own jobs."""
    store = MemoryConfigStore()
    seen: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append(job.data)

    with trio.fail_after(600):
        async with (
            open_queue_manager(registry, config_store=store) as a,
            open_queue_manager(registry, config_store=store) as b,
        ):
            b.start_polling(interval_ms=1000)
            proxy = b.get_queue("q")
            await proxy.enqueue("waiting-in-b", start_delay=30)
            await proxy.consume(handler, consumer_group="g")
            result = await a.set_active_backend("memory2", {"concurrency": 3})
            assert result.success
            assert a.version == 1
            assert b.get_active_plugin() == "memory"
            await trio.sleep(1.5)
            assert b.get_active_plugin() == "memory2"
            assert b.get_active_config() == InMemoryQueueConfig(concurrency=3)
            assert b.version == 1
            # b follows but does not write: the store still holds a's choice
            assert await store.get("queue:active") == (1, {"plugin_id": "memory2"})
            # and back again, from b this time, with a polling
            a.start_polling(interval_ms=500)
            await b.set_active_backend("memory", {})
            assert b.version == 2
            await trio.sleep(1)
            assert a.get_active_plugin() == "memory"
            assert a.version == 2
            await trio.sleep(30)
            b.stop_polling()
            b.stop_polling()  # idempotent
    assert seen == ["waiting-in-b"]


async def test_a_failed_poll_is_logged_and_retried(
    second_plugin: SecondMemoryPlugin,
    registry: QueuePluginRegistry,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A poll that cannot switch logs a warning, keeps the manager alive and tries again."""
    store = MemoryConfigStore()
    small = QueuePluginRegistry()
    small.register(memory_plugin())
    caplog.set_level(logging.WARNING, logger="checkqueue_actors")
    with trio.fail_after(600):
        async with (
            open_queue_manager(registry, config_store=store) as a,
            open_queue_manager(small, config_store=store) as b,
        ):
            b.start_polling(interval_ms=1000)
            proxy = b.get_queue("q")
            await a.set_active_backend("memory2", {})
            await trio.sleep(3.5)
            failures = [r for r in caplog.records if "polling the config store failed" in r.message]
            assert len(failures) == 3
            assert "memory2" in failures[0].message
            assert b.get_active_plugin() == "memory"
            assert b.version == 0
            await proxy.enqueue("b still works")
            small.register(second_plugin)  # the plugin arrives: the next poll succeeds
            await trio.sleep(1)
            assert b.get_active_plugin() == "memory2"
            assert b.version == 1
            assert (await proxy.get_stats()).pending == 1


async def test_polling_a_store_with_the_same_choice_does_not_switch(
    registry: QueuePluginRegistry,
    second_plugin: SecondMemoryPlugin,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A newer version holding the config already active is adopted without a switch."""
    store = MemoryConfigStore()
    with trio.fail_after(60):
        async with open_queue_manager(
            registry, config_store=store, default_plugin="memory2"
        ) as manager:
            manager.get_queue("q")
            manager.start_polling(interval_ms=100)
            await store.set("memory2", 1, {})
            await store.set("queue:active", 4, {"plugin_id": "memory2"})
            await trio.sleep(0.5)
            assert manager.version == 4
            assert second_plugin.created == ["q"]
            with pytest.raises(ValueError, match=r"^interval_ms must be an int > 0, not 0"):
                manager.start_polling(interval_ms=0)


async def test_leaving_the_manager_stops_every_queue_gracefully(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Running handlers finish on exit; afterwards the proxies are stopped."""
    done: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        await trio.sleep(10)
        done.append(job.data)

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            manager.start_polling(interval_ms=100)
            a = manager.get_queue("a")
            b = manager.get_queue("b")
            await a.consume(handler, consumer_group="g")
            await b.consume(handler, consumer_group="g")
            await a.enqueue(1)
            await b.enqueue(2)
            await trio.sleep(1)
        assert sorted(done) == [1, 2]
        assert trio.current_time() == pytest.approx(10)
        with pytest.raises(QueueStoppedError):
            await a.enqueue(3)
        with pytest.raises(QueueStoppedError, match="shut down"):
            manager.get_queue("c")
        with pytest.raises(QueueStoppedError, match="shut down"):
            await manager.set_active_backend("memory", {})
        await manager.shutdown()  # idempotent


async def test_body_exception_leaves_the_manager_unwrapped(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """An exception from the ``async with`` body comes out as itself, after a graceful stop."""
    with pytest.raises(KeyError, match="boom") as info, trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            await manager.get_queue("q").enqueue(1)
            raise KeyError("boom")
    assert not isinstance(info.value, BaseExceptionGroup)
