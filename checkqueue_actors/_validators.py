"""attrs validators strict about types (no bool for int, etc.)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import attrs

__all__ = ["Validator", "finite_float", "strict_int", "strict_str"]

Validator: TypeAlias = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _name(attribute: attrs.Attribute[Any]) -> str:
    return attribute.alias or attribute.name


def strict_int(minimum: int | None = None, maximum: int | None = None) -> Validator:
    """An int (never a bool), optionally within [minimum, maximum]."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        name = _name(attribute)
        if type(value) is not int:
            msg = f"{name} must be an int, not {value!r}"
            raise TypeError(msg)
        if minimum is not None and value < minimum:
            msg = f"{name} must be >= {minimum}, not {value!r}"
            raise ValueError(msg)
        if maximum is not None and value > maximum:
            msg = f"{name} must be <= {maximum}, not {value!r}"
            raise ValueError(msg)

    return check


def finite_float(
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Validator:
    """A finite int or float (never a bool) within the given bounds."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        name = _name(attribute)
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{name} must be a number, not {value!r}"
            raise TypeError(msg)
        if not math.isfinite(value):
            msg = f"{name} must be finite, not {value!r}"
            raise ValueError(msg)
        if gt is not None and not value > gt:
            msg = f"{name} must be > {gt}, not {value!r}"
            raise ValueError(msg)
        if ge is not None and not value >= ge:
            msg = f"{name} must be >= {ge}, not {value!r}"
            raise ValueError(msg)
        if le is not None and not value <= le:
            msg = f"{name} must be <= {le}, not {value!r}"
            raise ValueError(msg)

    return check


def strict_str(*, non_empty: bool = False) -> Validator:
    """A str, optionally non-empty."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        name = _name(attribute)
        if not isinstance(value, str):
            msg = f"{name} must be a str, not {value!r}"
            raise TypeError(msg)
        if non_empty and not value:
            msg = f"{name} must not be empty"
            raise ValueError(msg)

    return check
