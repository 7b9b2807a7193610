"""parse_config, migrations, the registry and InMemoryQueueConfig validation."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from checkqueue_actors import (
    ConfigValidationError,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    Migration,
    QueuePluginRegistry,
    parse_config,
)


def test_defaults() -> None:
    """An empty mapping gives the documented defaults."""
    config = parse_config(InMemoryQueuePlugin(), {})
    assert config == InMemoryQueueConfig(10, 10_000, 1.0, 5000)


def test_every_bad_field_is_named_in_one_error() -> None:
    """One ConfigValidationError lists every bad field, not just the first."""
    with pytest.raises(ConfigValidationError) as info:
        parse_config(
            InMemoryQueuePlugin(),
            {
                "concurrency": 500,
                "max_queue_size": "5",
                "delay_multiplier": 0,
                "heartbeat_interval_ms": True,
                "colour": "red",
            },
        )
    err = info.value
    assert err.plugin_id == "memory"
    fields = sorted(line.split(":", 1)[0] for line in err.errors)
    assert fields == [
        "colour",
        "concurrency",
        "delay_multiplier",
        "heartbeat_interval_ms",
        "max_queue_size",
    ]
    for name in fields:
        assert name in str(err)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"concurrency": "5"}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": 3.7}, "concurrency"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 101}, "concurrency"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"delay_multiplier": 1.5}, "delay_multiplier"),
        ({"delay_multiplier": float("nan")}, "delay_multiplier"),
        ({"delay_multiplier": "1"}, "delay_multiplier"),
        ({"heartbeat_interval_ms": -1}, "heartbeat_interval_ms"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_no_silent_coercion(raw: dict[str, Any], field: str) -> None:
    """Wrong types, out-of-range values and unknown keys are errors naming the field."""
    with pytest.raises(ConfigValidationError, match=field):
        parse_config(InMemoryQueuePlugin(), raw)


def test_int_for_float_field_is_fine() -> None:
    """An int where a float is expected is accepted (and stored as float)."""
    config = parse_config(InMemoryQueuePlugin(), {"delay_multiplier": 1})
    assert config.delay_multiplier == 1.0


def test_direct_construction_errors() -> None:
    """Out-of-range values raise ValueError, wrong types TypeError."""
    with pytest.raises(ValueError, match="concurrency"):
        InMemoryQueueConfig(concurrency=0)
    with pytest.raises(ValueError, match="delay_multiplier"):
        InMemoryQueueConfig(delay_multiplier=0.0)
    with pytest.raises(TypeError, match="max_queue_size"):
        InMemoryQueueConfig(max_queue_size="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="concurrency"):
        InMemoryQueueConfig(concurrency=True)


@attrs.frozen
class _V3Config:
    host: str = "localhost"
    port: int = 6379
    retries: int = 3


@attrs.define
class _Plugin:
    id: str = "toy"
    display_name: str = "Toy"
    description: str | None = None
    config_version: int = 3
    config_type: type[_V3Config] = _V3Config
    migrations: list[Migration] = attrs.field(factory=list[Migration])

    def create_queue(self, name: str, config: _V3Config) -> Any:
        raise AssertionError("not used")


def _plugin() -> _Plugin:
    def v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
        raw["host"] = raw.pop("hostname")
        return raw

    def v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
        raw["retries"] = raw.pop("max_retries", 3)
        return raw

    return _Plugin(migrations=[Migration(2, 3, v2_to_v3), Migration(1, 2, v1_to_v2)])


def test_migrations_run_in_sequence_from_the_stored_version() -> None:
    """A v1 config goes through 1->2 and 2->3, whatever order the list has."""
    config = parse_config(_plugin(), {"hostname": "db", "port": 1, "max_retries": 5}, version=1)
    assert config == _V3Config("db", 1, 5)
    config = parse_config(_plugin(), {"host": "db", "max_retries": 1}, version=2)
    assert config == _V3Config("db", 6379, 1)


def test_missing_migration_and_future_version() -> None:
    """No path from the stored version, or a version from the future, is a config error."""
    plugin = _plugin()
    plugin.migrations = plugin.migrations[:1]  # only 2->3
    with pytest.raises(ConfigValidationError, match="no migration from config version 1"):
        parse_config(plugin, {"hostname": "x"}, version=1)
    with pytest.raises(ConfigValidationError, match="newer"):
        parse_config(plugin, {}, version=4)


def test_failing_migration_is_a_config_error() -> None:
    """A migration that raises becomes a ConfigValidationError naming the step."""
    with pytest.raises(ConfigValidationError, match="migration 1->2 failed"):
        parse_config(_plugin(), {"port": 1}, version=1)  # no "hostname" key


def test_registry() -> None:
    """Duplicate ids are refused; lookups return None for unknown ids."""
    registry = QueuePluginRegistry()
    plugin = InMemoryQueuePlugin()
    registry.register(plugin)
    with pytest.raises(ValueError, match="'memory' is already registered"):
        registry.register(InMemoryQueuePlugin())
    assert registry.get_plugin("memory") is plugin
    assert registry.get_plugin("nope") is None
    assert registry.get_plugins() == [plugin]


def test_plugin_creates_queue() -> None:
    """The memory plugin builds an unstarted InMemoryQueue with the given config."""
    plugin = InMemoryQueuePlugin()
    assert plugin.id == "memory"
    assert plugin.config_version == 1
    config = InMemoryQueueConfig(concurrency=2)
    queue = plugin.create_queue("q", config)
    assert queue.name == "q"
