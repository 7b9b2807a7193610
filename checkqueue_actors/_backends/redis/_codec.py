"""Payloads as the Redis backend stores them: JSON text, never pickles.

A payload is a JSON value, or an attrs instance of the queue's ``payload_type``
unstructured and structured with the package's cattrs converter.
"""

from __future__ import annotations

import json
from json.scanner import make_scanner
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from ..._config import converter
from ..._errors import SerializationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["PayloadCodec"]

_DECODER: Any = json.JSONDecoder()  # (typeshed types make_scanner's context oddly)
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = make_scanner(_DECODER)
"""The C scanner under ``json.loads``: one call parses a value at an index (``json.loads``
adds two whitespace regex matches and three Python calls, about a microsecond a job)."""


@final
class PayloadCodec:
    """Encodes and decodes one queue's payloads."""

    __slots__ = ("max_bytes", "payload_type")

    def __init__(self, payload_type: type | None, max_bytes: int) -> None:
        """
        Raises:
          TypeError: ``payload_type`` is not an attrs class.
        """
        if payload_type is not None and not attrs.has(payload_type):
            msg = f"payload_type must be an attrs class, not {payload_type!r}"
            raise TypeError(msg)
        self.payload_type = payload_type
        self.max_bytes = max_bytes

    def encode(self, data: Any) -> str:
        """The payload as JSON text.

        Raises:
          SerializationError: not JSON-encodable (NaN and infinities included), not
            UTF-8-encodable (a lone surrogate in a string), or over ``max_bytes`` UTF-8
            bytes.
        """
        try:
            value = converter.unstructure(data) if self.payload_type is not None else data
            text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            msg = f"payload cannot be encoded as JSON: {exc}"
            raise SerializationError(msg) from exc
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            # a lone surrogate ("\ud800") in a string or key: JSON text, but not UTF-8
            msg = (
                f"payload cannot be encoded as JSON: it holds the lone surrogate "
                f"{text[exc.start]!r}, which is not valid UTF-8"
            )
            raise SerializationError(msg) from None
        if size > self.max_bytes:
            msg = f"payload is {size} bytes of JSON, over max_payload_bytes={self.max_bytes}"
            raise SerializationError(msg)
        return text

    def decode(self, raw: bytes | str) -> Any:
        """The payload of stored JSON text.

        Raises:
          SerializationError: the text is not JSON, is far too large, or does not fit
            ``payload_type``.
        """
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if len(text) > self.max_bytes * 4:
                msg = "payload too large"
                raise ValueError(msg)  # one path for every decoding failure
            try:
                value, end = _SCAN(text, 0)
            except StopIteration:
                value, end = None, -1
            if end != len(text):  # whitespace around it, or not JSON: json.loads says
                value = json.loads(text)
            if self.payload_type is not None:
                value = converter.structure(value, self.payload_type)
        except Exception as exc:
            msg = f"undecodable payload: {exc!r}"
            raise SerializationError(msg) from exc
        return value
