"""Config stores: where managers keep (and share) the active backend choice.

A store maps a key to ``(version, value)`` where ``value`` is a JSON-ready dict
Managers agree on the layout: ``"queue:active"``
holds ``{"plugin_id": ...}`` with the switch counter as its version, and
``<plugin id>`` holds that plugin's unstructured config with its
``config_version``.

Every store's ``set`` is a compare-and-set on the version: a write never takes
a key back to a lower version, and a caller that passes ``expected_version``
(the version it read; 0 for a key never set) writes only if the key still holds
exactly that version. Either way a stale write raises ``StaleVersionError`` and
changes nothing, so two managers that switch at the same instant cannot both
believe they wrote the same version.

``FileConfigStore`` does its (small) file I/O synchronously between two
checkpoints rather than in a worker thread: ``trio.to_thread`` lets a
``MockClock`` with ``autojump_threshold=0`` jump while the thread runs, which
makes time-driven tests flaky, and a config file is a few hundred bytes. Its
read-check-write runs under an exclusive ``fcntl.flock`` on a lock file beside
the store, so processes sharing the file take turns.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast, final

import trio

from ._errors import QueueError

if sys.platform != "win32":
    import fcntl

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

__all__ = [
    "ConfigStoreCorruptError",
    "FileConfigStore",
    "MemoryConfigStore",
    "StaleVersionError",
    "check_version",
]


class StaleVersionError(QueueError):
    """A config store write that lost a race: nothing was written.

    Raised by ``set`` when the key holds a higher version than the one written, or
    when ``expected_version`` was given and the key no longer holds it (another
    writer came first).

    Attributes:
      key: The key written.
      version: The version the write carried.
      expected_version: The version the writer expected to find (``None``: none).
      current_version: The version the key holds (0: never set).
    """

    def __init__(
        self, key: str, version: int, expected_version: int | None, current_version: int
    ) -> None:
        self.key = key
        self.version = version
        self.expected_version = expected_version
        self.current_version = current_version
        if expected_version is not None and current_version != expected_version:
            why = (
                f"expected version {expected_version}, but another writer left version "
                f"{current_version}"
            )
        else:
            why = f"the store already holds a higher version ({current_version})"
        super().__init__(
            f"config store key {key!r}: the write of version {version} is stale ({why}); "
            "nothing was written: read the key again and decide anew"
        )


def check_version(
    key: str, version: int, expected_version: int | None, current_version: int | None
) -> None:
    """Raise ``StaleVersionError`` unless writing ``version`` over ``current_version``
    (``None``: never set) is allowed (see the module docstring)."""
    current = 0 if current_version is None else current_version
    if current > version or (expected_version is not None and current != expected_version):
        raise StaleVersionError(key, version, expected_version, current)


def _check_expected(expected_version: object) -> None:
    if expected_version is not None and type(expected_version) is not int:
        msg = f"expected_version must be an int or None, not {expected_version!r}"
        raise ValueError(msg)


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

    async def set(
        self,
        key: str,
        version: int,
        value: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> None:
        """Store ``value`` under ``key`` with ``version`` (replacing what was there).

        Args:
          key: The key.
          version: The version to store; never lower than the stored one.
          value: A JSON-ready dict.
          expected_version: When given, write only if the key holds exactly this
            version (0 for a key never set).
        Raises:
          StaleVersionError: the key holds a higher version, or not the expected
            one; nothing is written.
          ValueError: for an empty key, a non-int version or expected version, or a
            value that is not a dict.
        """
        _check_args(key, version, value)
        _check_expected(expected_version)
        stored = copy.deepcopy(value)
        await trio.lowlevel.checkpoint()
        # no checkpoint from here on: the check and the write are one step
        entry = self._data.get(key)
        check_version(key, version, expected_version, None if entry is None else entry[0])
        self._data[key] = (version, stored)


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


_LOCK_TIMEOUT: Final = 10.0
"""Seconds (real time) a write waits for another process's lock before giving up."""
_LOCK_POLL: Final = 0.002


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncGenerator[None, None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (processes sharing the store take
    turns); without ``fcntl`` (Windows) only this process's tasks are serialized.

    The wait is polled, never blocking the event loop; its bound is real time (a
    MockClock does not advance it), since the holder is another process.

    Raises:
      OSError: when the lock file cannot be opened, or the lock is held for longer
        than ``_LOCK_TIMEOUT`` seconds.
    """
    if sys.platform == "win32":  # pragma: no cover  # no fcntl
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = (
                        f"config store lock {str(lock_path)!r} is held by another process "
                        f"for more than {_LOCK_TIMEOUT:g} s"
                    )
                    raise OSError(msg) from None
            await trio.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@final
class FileConfigStore:
    """A config store in a JSON file: survives restarts; shared by processes on one host.

    Every ``set`` rewrites the file atomically (a temporary file in the same
    directory, then ``os.replace``), so a crash never leaves half a file, and runs
    its read-check-write under an exclusive ``fcntl.flock`` on ``<path>.lock``
    (created beside the file and left there), so processes sharing the file take
    turns and a stale write raises ``StaleVersionError``. A missing file is an empty
    store; its directory must exist. (Where ``fcntl`` does not exist, on Windows,
    only the tasks of one process are serialized.)

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

    async def set(
        self,
        key: str,
        version: int,
        value: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> None:
        """Store ``value`` under ``key`` with ``version``; other keys are kept.

        Args:
          key: The key.
          version: The version to store; never lower than the stored one.
          value: A JSON-encodable dict.
          expected_version: When given, write only if the key holds exactly this
            version (0 for a key never set).
        Raises:
          StaleVersionError: the key holds a higher version, or not the expected
            one; nothing is written.
          ValueError: for an empty key, a non-int version or expected version, a
            value that is not a dict or not JSON-encodable.
          ConfigStoreCorruptError: if the existing file is not a valid store (it is
            left as it is).
          OSError: if the file cannot be written, or another process holds its lock
            for more than 10 s.
        """
        _check_args(key, version, value)
        _check_expected(expected_version)
        await trio.lowlevel.checkpoint()
        async with _file_lock(self._path):
            entries = _read_store_file(self._path)
            entry = entries.get(key)
            check_version(key, version, expected_version, None if entry is None else entry[0])
            entries[key] = (version, value)
            try:
                _write_store_file(self._path, entries)
            except TypeError as exc:
                msg = f"value must be JSON-encodable, not {value!r}: {exc}"
                raise ValueError(msg) from exc
