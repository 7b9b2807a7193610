"""Plugins and fixtures for the manager tests: a second in-memory plugin, a failing one,
one whose queues lack ``export_pending`` and one with a config migration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest

from checkqueue_actors import (
    BackendUnavailableError,
    InMemoryQueue,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    Migration,
    QueuePluginRegistry,
)

if TYPE_CHECKING:
    from checkqueue_actors import Queue, QueuePlugin


@attrs.define
class SecondMemoryPlugin:
    """Another plugin id backed by the in-memory queue (a stand-in for a second backend)."""

    id: str = "memory2"
    display_name: str = "Second memory"
    description: str | None = None
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()
    created: list[str] = attrs.field(factory=list[str])

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Queue[Any]:
        self.created.append(name)
        return InMemoryQueue[Any](name, config)


class _UnreachableQueue:
    """A queue whose backend can never be reached (only test_connection/stop are used)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopped = False

    async def test_connection(self) -> None:
        raise BackendUnavailableError("redis://nowhere:6379", ConnectionRefusedError("refused"))

    async def stop(self) -> None:
        self.stopped = True


@attrs.define
class UnreachablePlugin:
    """A plugin whose backend fails its connection test."""

    id: str = "down"
    display_name: str = "Down"
    description: str | None = None
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()
    created: list[str] = attrs.field(factory=list[str])

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Queue[Any]:
        self.created.append(name)
        return cast("Queue[Any]", _UnreachableQueue(name))


class _NoExportQueue:
    """An in-memory queue seen through a wrapper that has no ``export_pending``."""

    def __init__(self, inner: InMemoryQueue[Any]) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "export_pending":
            raise AttributeError(name)
        return getattr(self._inner, name)


@attrs.define
class NoExportPlugin:
    """A third-party-like plugin whose queues cannot export pending jobs."""

    id: str = "noexport"
    display_name: str = "No export"
    description: str | None = None
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Queue[Any]:
        return cast("Queue[Any]", _NoExportQueue(InMemoryQueue[Any](name, config)))


def _rename_workers(raw: dict[str, Any]) -> dict[str, Any]:
    raw["concurrency"] = raw.pop("workers")
    return raw


@attrs.define
class MigratingPlugin:
    """Config version 2 of an in-memory plugin whose version 1 called concurrency 'workers'."""

    id: str = "memory-v2"
    display_name: str = "Memory v2"
    description: str | None = None
    config_version: int = 2
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = (Migration(1, 2, _rename_workers),)

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Queue[Any]:
        return InMemoryQueue[Any](name, config)


def memory_plugin() -> QueuePlugin[Any]:
    """The built-in plugin, typed as the protocol (its Final class constants do not match
    the protocol's mutable attributes under pyright strict; see the issue 4 report)."""
    return cast("QueuePlugin[Any]", InMemoryQueuePlugin())


@pytest.fixture
def second_plugin() -> SecondMemoryPlugin:
    return SecondMemoryPlugin()


@pytest.fixture
def unreachable_plugin() -> UnreachablePlugin:
    return UnreachablePlugin()


@pytest.fixture
def registry(
    second_plugin: SecondMemoryPlugin, unreachable_plugin: UnreachablePlugin
) -> QueuePluginRegistry:
    registry = QueuePluginRegistry()
    registry.register(memory_plugin())
    registry.register(second_plugin)
    registry.register(unreachable_plugin)
    registry.register(NoExportPlugin())
    registry.register(MigratingPlugin())
    return registry
