"""Failed switches leave the old backend active and untouched; degraded switches warn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    BackendUnavailableError,
    ConfigValidationError,
    InMemoryQueueConfig,
    MemoryConfigStore,
    PluginNotFoundError,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)

if TYPE_CHECKING:
    from .conftest import SecondMemoryPlugin, UnreachablePlugin


@pytest.mark.parametrize(
    ("plugin_id", "config", "error", "match"),
    [
        ("nope", {}, PluginNotFoundError, r"^no queue plugin with id 'nope' \(registered: "),
        (
            "memory2",
            {"concurrency": 0, "max_queue_size": "5", "colour": 1},
            ConfigValidationError,
            r"^invalid config for plugin 'memory2': ",
        ),
        (
            "memory2",
            42,
            ConfigValidationError,
            r"config must be an instance of InMemoryQueueConfig or a mapping, not 42",
        ),
        ("down", {}, BackendUnavailableError, r"^cannot reach backend at redis://nowhere:6379"),
    ],
)
async def test_failed_switch_leaves_the_old_backend_active_and_untouched(
    registry: QueuePluginRegistry,
    second_plugin: SecondMemoryPlugin,
    unreachable_plugin: UnreachablePlugin,
    plugin_id: str,
    config: Any,
    error: type[Exception],
    match: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Unknown plugin, bad config, unreachable backend: raise, and nothing changes."""
    store = MemoryConfigStore()
    seen: list[str] = []
    old_config = InMemoryQueueConfig(concurrency=2)

    async def handler(job: QueueJob[str]) -> None:
        seen.append(job.data)

    with trio.fail_after(600):
        async with open_queue_manager(
            registry, config_store=store, default_config=old_config
        ) as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue("before")
            await proxy.enqueue("delayed", start_delay=100)
            await proxy.schedule_recurring("r", job_id="r", interval_seconds=1000, start_delay=500)
            details = await proxy.get_recurring_job_details("r")
            await trio.sleep(1)
            with pytest.raises(error, match=match) as info:
                await manager.set_active_backend(plugin_id, config)
            if isinstance(info.value, ConfigValidationError) and isinstance(config, dict):
                # every bad field is named, not just the first
                assert [e.split(":")[0] for e in info.value.errors] == [
                    "colour",
                    "concurrency",
                    "max_queue_size",
                ]
            assert manager.get_active_plugin() == "memory"
            assert manager.get_active_config() == old_config
            assert manager.version == 0
            assert await store.get("queue:active") is None
            assert await store.get(plugin_id) is None
            assert [n for n in second_plugin.created if n == "q"] == []
            # the old queue is still running with its jobs, consumers and schedules
            assert await proxy.get_recurring_job_details("r") == details
            assert (await proxy.get_stats()).pending == 1
            await proxy.enqueue("after")
            await trio.sleep(100)
    assert seen == ["before", "after", "delayed"]
    if plugin_id == "down":
        assert unreachable_plugin.created == ["checkqueue-connection-test"]


async def test_plugin_without_export_pending_makes_the_switch_warn(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Switching away from a backend that cannot export pending jobs reports a warning."""
    with trio.fail_after(60):
        async with open_queue_manager(registry, default_plugin="noexport") as manager:
            proxy = manager.get_queue("q")
            await proxy.enqueue("stranded")
            await proxy.schedule_recurring("r", job_id="r", interval_seconds=60)
            result = await manager.set_active_backend("memory", {})
            assert result.migrated_pending_jobs == 0
            assert result.migrated_recurring_jobs == 1  # read through the public protocol
            assert len(result.warnings) == 1
            assert "has no export_pending()" in result.warnings[0]
            assert "'q'" in result.warnings[0]
            assert result.success  # nothing that was handed over was lost
            assert manager.get_active_plugin() == "memory"


async def test_jobs_that_do_not_fit_the_new_backend_are_reported(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A smaller max_queue_size on the new backend: the overflow is named, success is False."""
    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            for i in range(3):
                await proxy.enqueue(i, job_id=f"j{i}")
            result = await manager.set_active_backend("memory2", {"max_queue_size": 2})
            assert not result.success
            assert result.migrated_pending_jobs == 2
            assert len(result.warnings) == 1
            assert "pending job 'j2' not migrated: QueueFullError" in result.warnings[0]
            assert manager.get_active_plugin() == "memory2"


async def test_unknown_default_plugin_is_refused_on_entry(
    registry: QueuePluginRegistry,
) -> None:
    """open_queue_manager with an unregistered default plugin raises PluginNotFoundError."""
    with pytest.raises(PluginNotFoundError, match="'redis'"):
        async with open_queue_manager(registry, default_plugin="redis"):
            pass  # pragma: no cover
    with pytest.raises(ConfigValidationError, match="concurrency"):
        async with open_queue_manager(registry, default_config={"concurrency": 1000}):
            pass  # pragma: no cover


async def test_the_memory_backend_needs_no_registration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An empty registry still gives the embedded default backend, "memory"."""
    from checkqueue_actors import QueuePluginRegistry

    ran: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        ran.append(job.data)

    with trio.fail_after(10):
        async with open_queue_manager(QueuePluginRegistry()) as manager:
            assert manager.get_active_plugin() == "memory"
            queue = manager.get_queue("q")
            await queue.consume(handler, consumer_group="g")
            await queue.enqueue("x")
            await trio.sleep(1)
            result = await manager.set_active_backend("memory", {"concurrency": 2})
            assert result.success
            with pytest.raises(PluginNotFoundError):
                await manager.set_active_backend("redis", {})
    assert ran == ["x"]
