"""Config stores: where managers keep (and share) the active backend choice.

A store maps a key to ``(version, value)`` where ``value`` is a JSON-ready dict
Managers agree on the layout: ``"queue:active"``
holds ``{"plugin_id": ...}`` with the switch counter as its version, and
``<plugin id>`` holds that plugin's unstructured config with its
``config_version``.

``FileConfigStore`` does its (small) file I/O synchronously between two
checkpoints rather than in a worker thread: ``trio.to_thread`` lets a
``MockClock`` with ``autojump_threshold=0`` jump while the thread runs, which
makes time-driven tests flaky, and a config file is a few hundred bytes.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, final

import trio

from ._errors import QueueError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ConfigStoreCorruptError", "FileConfigStore", "MemoryConfigStore"]


class ConfigStoreCorruptError(QueueError, ValueError):
    """A config store file that cannot be read as a store.

    Attributes:
      path: The file.
      reason: What is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"config store file {path!r} is corrupt: {reason}; "
            "fix or delete it (its contents are the stored backend choice)"
        )


def _check_args(key: object, version: object, value: object) -> None:
    if not isinstance(key, str) or not key:
        msg = f"key must be a non-empty str, not {key!r}"
        raise ValueError(msg)
    if type(version) is not int:
        msg = f"version must be an int, not {version!r}"
        raise ValueError(msg)
    if not isinstance(value, dict):
        msg = f"value must be a dict, not {value!r}"
        raise ValueError(msg)


@final
class MemoryConfigStore:
    """A config store in this process: shared by the managers that hold the same instance.

    Values are deep-copied in and out, so a caller mutating what it stored or
    read never changes the store.
    """

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, dict[str, Any]]] = {}

    async def get(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """The stored ``(version, value)`` of ``key``, or ``None`` when it was never set."""
        await trio.lowlevel.checkpoint()
        entry = self._data.get(key)
        if entry is None:
            return None
        version, value = entry
        return version, copy.deepcopy(value)

    async def set(self, key: str, version: int, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` with ``version`` (replacing what was there).

        Raises:
          ValueError: for an empty key, a non-int version or a value that is not a dict.
        """
        _check_args(key, version, value)
        await trio.lowlevel.checkpoint()
        self._data[key] = (version, copy.deepcopy(value))


def _parse_entry(item: object) -> tuple[int, dict[str, Any]] | None:
    """``(version, value)`` from a stored ``{"version": int, "value": {...}}``, else None."""
    if not isinstance(item, dict):
        return None
    entry = cast("dict[str, object]", item)
    version, value = entry.get("version"), entry.get("value")
    if set(entry) != {"version", "value"} or type(version) is not int:
        return None
    if not isinstance(value, dict):
        return None
    return version, cast("dict[str, Any]", value)


def _read_store_file(path: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    """The whole store file; an absent file is an empty store."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise ConfigStoreCorruptError(str(path), f"not UTF-8 text ({exc})") from exc
    try:
        raw: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigStoreCorruptError(str(path), f"not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigStoreCorruptError(str(path), f"top level is not an object: {raw!r:.80}")
    top = cast("dict[str, object]", raw)  # json object keys are always str
    entries: dict[str, tuple[int, dict[str, Any]]] = {}
    for key, item in top.items():
        entry = _parse_entry(item)
        if entry is None:
            raise ConfigStoreCorruptError(
                str(path),
                f'entry {key!r} is not {{"version": <int>, "value": <object>}}: {item!r:.80}',
            )
        entries[key] = entry
    return entries


def _write_store_file(path: Path, entries: Mapping[str, tuple[int, dict[str, Any]]]) -> None:
    """Write the whole store atomically: a temporary file in the same directory, then replace."""
    payload = {key: {"version": v, "value": value} for key, (v, value) in entries.items()}
    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False)
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


@final
class FileConfigStore:
    """A config store in a JSON file: survives restarts; shared by processes on one host.

    Every ``set`` rewrites the file atomically (a temporary file in the same
    directory, then ``os.replace``), so a crash never leaves half a file. A missing
    file is an empty store; its directory must exist.

    Args:
      path: The JSON file (created by the first ``set``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The store's file."""
        return self._path

    def __repr__(self) -> str:
        return f"FileConfigStore({str(self._path)!r})"

    async def get(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """The stored ``(version, value)`` of ``key``, or ``None`` when it was never set.

        Raises:
          ConfigStoreCorruptError: if the file is not a valid store (a ``QueueError``
            and a ``ValueError``).
          OSError: if the file cannot be read.
        """
        await trio.lowlevel.checkpoint()
        return _read_store_file(self._path).get(key)

    async def set(self, key: str, version: int, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` with ``version``; other keys are kept.

        Raises:
          ValueError: for an empty key, a non-int version, a value that is not a
            dict or not JSON-encodable.
          ConfigStoreCorruptError: if the existing file is not a valid store (it is
            left as it is).
          OSError: if the file cannot be written.
        """
        _check_args(key, version, value)
        await trio.lowlevel.checkpoint()
        entries = _read_store_file(self._path)
        entries[key] = (version, value)
        try:
            _write_store_file(self._path, entries)
        except TypeError as exc:
            msg = f"value must be JSON-encodable, not {value!r}: {exc}"
            raise ValueError(msg) from exc
