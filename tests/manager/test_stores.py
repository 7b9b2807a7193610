"""Config stores, loading the stored choice (with migrations) and restarting from a file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    ConfigValidationError,
    FileConfigStore,
    InMemoryQueueConfig,
    MemoryConfigStore,
    PluginNotFoundError,
    QueueError,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)

if TYPE_CHECKING:
    from pathlib import Path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_memory_store_round_trips_and_copies() -> None:
    """get returns what set stored, as a copy; unknown keys are None."""
    store = MemoryConfigStore()
    assert await store.get("k") is None
    value = {"a": [1, 2]}
    await store.set("k", 3, value)
    value["a"].append(3)
    got = await store.get("k")
    assert got == (3, {"a": [1, 2]})
    assert got is not None
    got[1]["a"].append(4)
    assert await store.get("k") == (3, {"a": [1, 2]})
    with pytest.raises(ValueError, match=r"^version must be an int, not '1'"):
        await store.set("k", "1", {})  # type: ignore[arg-type]


async def test_file_store_survives_a_new_instance_and_keeps_other_keys(tmp_path: Path) -> None:
    """Writes replace the file atomically, keep other keys and leave no temporary file."""
    path = tmp_path / "queue-config.json"
    store = FileConfigStore(path)
    assert await store.get("queue:active") is None
    await store.set("queue:active", 1, {"plugin_id": "memory"})
    await store.set("memory", 1, {"concurrency": 3})
    await store.set("queue:active", 2, {"plugin_id": "memory"})
    again = FileConfigStore(str(path))
    assert await again.get("queue:active") == (2, {"plugin_id": "memory"})
    assert await again.get("memory") == (1, {"concurrency": 3})
    assert json.loads(path.read_text()) == {
        "memory": {"version": 1, "value": {"concurrency": 3}},
        "queue:active": {"version": 2, "value": {"plugin_id": "memory"}},
    }
    # no temporary file is left; the lock file that serializes writers stays
    assert _names(tmp_path) == ["queue-config.json", "queue-config.json.lock"]
    with pytest.raises(ValueError, match=r"^value must be JSON-encodable"):
        await store.set("bad", 1, {"x": object()})
    assert await again.get("memory") == (1, {"concurrency": 3})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"queue:active": {"version": "1", "value": {}}}', "entry 'queue:active' is not"),
        ('{"memory": {"value": {}}}', "entry 'memory' is not"),
    ],
)
async def test_corrupt_file_store_raises_a_clear_error(
    tmp_path: Path, registry: QueuePluginRegistry, content: str, reason: str
) -> None:
    """A corrupt store file raises a QueueError naming the file, and is never overwritten."""
    path = tmp_path / "store.json"
    path.write_text(content)
    store = FileConfigStore(path)
    with pytest.raises(QueueError, match=reason) as info:
        await store.get("queue:active")
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    with pytest.raises(QueueError, match=reason):
        await store.set("queue:active", 1, {"plugin_id": "memory"})
    assert path.read_text() == content
    with pytest.raises(QueueError, match=reason):
        async with open_queue_manager(registry, config_store=store):
            pass  # pragma: no cover


async def test_restart_from_a_file_store_resumes_the_stored_backend(
    tmp_path: Path, registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A second manager opened on the same file starts on the stored backend and config."""
    path = tmp_path / "store.json"
    with trio.fail_after(60):
        async with open_queue_manager(registry, config_store=FileConfigStore(path)) as first:
            assert first.get_active_plugin() == "memory"
            assert first.version == 0
            await first.set_active_backend("memory2", InMemoryQueueConfig(concurrency=7))
            assert first.version == 1
        assert json.loads(path.read_text()) == {
            "memory2": {
                "version": 1,
                "value": {
                    "concurrency": 7,
                    "delay_multiplier": 1.0,
                    "heartbeat_interval_ms": 5000,
                    "max_failed_jobs": 1000,
                    "max_queue_size": 10000,
                },
            },
            "queue:active": {"version": 1, "value": {"plugin_id": "memory2"}},
        }
        seen: list[int] = []

        async def handler(job: QueueJob[int]) -> None:
            seen.append(job.data)

        async with open_queue_manager(
            registry, config_store=FileConfigStore(path), default_plugin="memory"
        ) as second:
            assert second.get_active_plugin() == "memory2"
            assert second.get_active_config() == InMemoryQueueConfig(concurrency=7)
            assert second.version == 1
            proxy = second.get_queue("q")
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue(1)
            await trio.sleep(1)
            await second.set_active_backend("memory", {})
            assert second.version == 2
    assert seen == [1]


async def test_stored_config_is_migrated_on_load(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A config stored at an older version goes through the plugin's migrations on entry."""
    store = MemoryConfigStore()
    await store.set("queue:active", 5, {"plugin_id": "memory-v2"})
    await store.set("memory-v2", 1, {"workers": 4, "max_queue_size": 50})
    with trio.fail_after(60):
        async with open_queue_manager(registry, config_store=store) as manager:
            assert manager.get_active_plugin() == "memory-v2"
            assert manager.get_active_config() == InMemoryQueueConfig(
                concurrency=4, max_queue_size=50
            )
            assert manager.version == 5
            await manager.set_active_backend("memory-v2", {"concurrency": 2})
    # the switch stored version 6 and the plugin's current config version
    assert await store.get("queue:active") == (6, {"plugin_id": "memory-v2"})
    stored = await store.get("memory-v2")
    assert stored is not None
    assert stored[0] == 2
    assert stored[1]["concurrency"] == 2


async def test_bad_stored_choice_is_refused_on_entry(registry: QueuePluginRegistry) -> None:
    """An unknown stored plugin or an invalid stored config fails loudly, not silently."""
    store = MemoryConfigStore()
    await store.set("queue:active", 1, {"plugin_id": "gone"})
    with pytest.raises(PluginNotFoundError, match="'gone'"):
        async with open_queue_manager(registry, config_store=store):
            pass  # pragma: no cover
    await store.set("queue:active", 1, {"plugin_id": "memory"})
    await store.set("memory", 1, {"concurrency": "ten"})
    with pytest.raises(ConfigValidationError, match="concurrency"):
        async with open_queue_manager(registry, config_store=store):
            pass  # pragma: no cover
