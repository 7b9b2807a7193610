"""The plugin protocol and the registry of plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._model import Migration
    from ._protocols import Queue

__all__ = ["QueuePlugin", "QueuePluginRegistry"]

C = TypeVar("C")


class QueuePlugin(Protocol[C]):
    """A queue backend: its id, its versioned config type and a queue factory.

    The members are read-only in the protocol, so a plugin may define them as
    plain or ``Final`` class attributes, instance attributes or properties.
    """

    @property
    def id(self) -> str:
        """Unique plugin id (``"memory"``, ``"redis"``)."""
        ...

    @property
    def display_name(self) -> str:
        """Human-readable name."""
        ...

    @property
    def description(self) -> str | None:
        """Optional one-line description."""
        ...

    @property
    def config_version(self) -> int:
        """The current config schema version."""
        ...

    @property
    def config_type(self) -> type[C]:
        """The attrs class of the config."""
        ...

    @property
    def migrations(self) -> Sequence[Migration]:
        """Steps from older config versions to ``config_version``."""
        ...

    def create_queue(self, name: str, config: C) -> Queue[Any]:
        """A new, not yet started queue named ``name``."""
        ...


@final
class QueuePluginRegistry:
    """The plugins an application knows, by id."""

    def __init__(self) -> None:
        self._plugins: dict[str, QueuePlugin[Any]] = {}

    def register(self, plugin: QueuePlugin[Any]) -> None:
        """Add a plugin.

        Raises:
          ValueError: if a plugin with the same id is already registered.
        """
        plugin_id = plugin.id
        if plugin_id in self._plugins:
            msg = f"a queue plugin with id {plugin_id!r} is already registered"
            raise ValueError(msg)
        self._plugins[plugin_id] = plugin

    def get_plugin(self, plugin_id: str) -> QueuePlugin[Any] | None:
        """The plugin with this id, or ``None``."""
        return self._plugins.get(plugin_id)

    def get_plugins(self) -> list[QueuePlugin[Any]]:
        """Every registered plugin, in registration order."""
        return list(self._plugins.values())
