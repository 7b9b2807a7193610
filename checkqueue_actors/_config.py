"""The single cattrs converter, ``parse_config`` and config migration replay.

attrs stops at the first failing validator and cattrs reports types only, so
``structure_config`` checks every field itself (strict type, then the field's
validators) and raises one ``ConfigValidationError`` naming every bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import cattrs

from ._errors import ConfigValidationError

if TYPE_CHECKING:
    from ._plugins import QueuePlugin

__all__ = ["converter", "parse_config", "structure_config", "unstructure_config"]

C = TypeVar("C")


def _strict_int(value: object, _type: object) -> int:
    if type(value) is not int:
        msg = f"expected an int, got {value!r}"
        raise TypeError(msg)
    return value


def _strict_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"expected a number, got {value!r}"
        raise TypeError(msg)
    return float(value)


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        # the type only: a str field may hold a password
        msg = f"expected a str, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _strict_bool(value: object, _type: object) -> bool:
    if type(value) is not bool:
        msg = f"expected a bool, got {value!r}"
        raise TypeError(msg)
    return value


converter = cattrs.Converter(forbid_extra_keys=True)
"""The package's one converter (never ``cattrs.global_converter``): no silent coercion."""
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(bool, _strict_bool)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc, path="value"))
    return str(exc)


def _apply_migrations(
    plugin: QueuePlugin[Any], data: dict[str, Any], version: int
) -> dict[str, Any]:
    target = plugin.config_version
    if type(version) is not int:
        raise ConfigValidationError(plugin.id, [f"version must be an int, not {version!r}"])
    if version > target:
        raise ConfigValidationError(
            plugin.id,
            [f"config version {version} is newer than this plugin's version {target}"],
        )
    steps = {m.from_version: m for m in plugin.migrations}
    while version < target:
        step = steps.get(version)
        if step is None:
            raise ConfigValidationError(
                plugin.id, [f"no migration from config version {version} (target {target})"]
            )
        if step.to_version <= version:
            raise ConfigValidationError(
                plugin.id,
                [f"migration {step.from_version}->{step.to_version} does not move forward"],
            )
        try:
            migrated = step.migrate(dict(data))
        except Exception as exc:
            raise ConfigValidationError(
                plugin.id,
                [f"migration {step.from_version}->{step.to_version} failed: {exc!r}"],
            ) from exc
        if not isinstance(migrated, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigValidationError(
                plugin.id,
                [f"migration {step.from_version}->{step.to_version} returned {migrated!r}"],
            )
        data = dict(migrated)
        version = step.to_version
    return data


def structure_config(cls: type[C], raw: Mapping[str, Any], plugin_id: str) -> C:
    """Build ``cls`` from ``raw``, reporting every bad field in one error."""
    if not isinstance(raw, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigValidationError(plugin_id, [f"config must be a mapping, not {raw!r}"])
    attrs_cls: Any = cls  # a plugin's config_type is an attrs class
    attrs.resolve_types(attrs_cls)
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(attrs_cls)
    errors: list[str] = []
    known = {f.alias or f.name: f for f in fields}
    errors.extend(
        f"{key}: unknown key (known: {', '.join(sorted(known))})" for key in raw if key not in known
    )
    kwargs: dict[str, Any] = {}
    for key, field in known.items():
        if key not in raw:
            if field.default is attrs.NOTHING:
                errors.append(f"{key}: required")
            continue
        try:
            value = converter.structure(raw[key], field.type) if field.type else raw[key]
        except Exception as exc:
            errors.append(f"{key}: {_describe(exc)}")
            continue
        if field.validator is not None:
            try:
                field.validator(None, field, value)
            except (TypeError, ValueError) as exc:
                errors.append(f"{key}: {exc}")
                continue
        kwargs[key] = value
    if errors:
        raise ConfigValidationError(plugin_id, errors)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a class-level check across fields
        raise ConfigValidationError(plugin_id, [str(exc)]) from exc


def parse_config(plugin: QueuePlugin[C], raw: Mapping[str, Any], version: int | None = None) -> C:
    """Migrate ``raw`` from ``version`` to the plugin's version, then structure and validate it.

    Args:
      plugin: The plugin whose ``config_type`` and ``migrations`` apply.
      raw: The unstructured config (as stored).
      version: The version ``raw`` was written with; default ``plugin.config_version``.
    Returns:
      An instance of ``plugin.config_type``.
    Raises:
      ConfigValidationError: naming every bad field, or the migration step that failed.
    """
    if not isinstance(raw, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigValidationError(plugin.id, [f"config must be a mapping, not {raw!r}"])
    start = plugin.config_version if version is None else version
    data = _apply_migrations(plugin, dict(raw), start)
    return structure_config(plugin.config_type, data, plugin.id)


def unstructure_config(config: object) -> dict[str, Any]:
    """A config instance as a plain JSON-ready dict (what config stores keep)."""
    result = converter.unstructure(config)
    assert isinstance(result, dict)
    return result  # pyright: ignore[reportUnknownVariableType]
