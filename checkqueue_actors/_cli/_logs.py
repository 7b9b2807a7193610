"""Logging of the command line: one line per record, as text or as JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["FIELDS", "JsonFormatter", "configure_logging"]

FIELDS: Final = "fields"
"""The ``extra`` key whose mapping a JSON line carries as its own keys
(``logger.info("...", extra={FIELDS: {"queues": [...]}})``)."""

_TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, the
    record's ``fields`` and, for an exception, ``exception`` (its traceback as one
    string)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields: object = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            for key, value in fields.items():  # pyright: ignore[reportUnknownVariableType]
                line.setdefault(str(key), value)  # pyright: ignore[reportUnknownArgumentType]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(log_format: str, level: str) -> None:
    """Send every record at ``level`` or above to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
