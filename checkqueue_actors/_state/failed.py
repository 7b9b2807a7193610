"""The failed-jobs record: its rules, once, and the in-memory engine's copy of it.

The rules (the Redis scripts follow them too: ``record_failure`` in
``common.lua``, ``failed_read.lua``, ``failed_retry.lua``, ``failed_drop.lua``):

- a delivery that failed for good (retries exhausted, not decodable, stalled) is
  recorded under its ``(job id, consumer group)``: one entry per job and group, a
  later failure replacing the earlier one and counting as the newest;
- the record keeps the newest ``max_size`` entries of the queue, dropping the oldest
  (``max_size`` 0 keeps none);
- it is read newest first, optionally for one group, at most ``limit`` entries;
- a retry takes the entry out and delivers the job again to that group only, with
  ``attempts`` from 0 (``RETRY_*`` below say how it ended);
- the error text kept is the first ``ERROR_MAX`` characters.

Sans-IO: nothing here awaits or reads a clock; the engine passes the times in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .._model import NO_HEADERS
from .policy import ArgumentTypeError, shown

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._model import FailedJob

__all__ = [
    "ERROR_MAX",
    "RETRY_DONE",
    "RETRY_NO_ENTRY",
    "RETRY_NO_GROUP",
    "FailedRecord",
    "check_limit",
    "error_text",
    "join_error",
    "split_error",
]

ERROR_MAX: Final = 4000
"""Characters of a failure's error text kept in the record."""

TRACEBACK_MAX: Final = 16_000
"""Characters of a failure's traceback kept (its end: the frames nearest the error)."""

_TRACEBACK_SEP: Final = "\x1e"
"""Between the error text and the traceback in what a storage keeps for a failure (ASCII
record separator: never in ``"ExcType: message"`` text that matters)."""

RETRY_DONE: Final = 1
"""``retry_failed``: the job was delivered again to the group."""
RETRY_NO_ENTRY: Final = 0
"""``retry_failed``: no such entry (or the job is back in that group already)."""
RETRY_NO_GROUP: Final = -1
"""``retry_failed``: the group does not exist (any more); the entry stays."""


def error_text(detail: object) -> str:
    """The error text kept for a failure (the first ``ERROR_MAX`` characters), with its
    traceback (``join_error``) kept as it is."""
    text = str(detail)
    error, separator, traceback = text.partition(_TRACEBACK_SEP)
    return error[:ERROR_MAX] + separator + traceback


def join_error(error: str, traceback: str | None) -> str:
    """One text for a storage to keep: the error (``"ExcType: message"``, its first
    ``ERROR_MAX`` characters) and its traceback (the last ``TRACEBACK_MAX``); storages
    keep it as it is, and ``split_error`` gives both back."""
    error = error.replace(_TRACEBACK_SEP, " ")[:ERROR_MAX]
    if not traceback:
        return error
    return error + _TRACEBACK_SEP + traceback[-TRACEBACK_MAX:]


def split_error(text: str) -> tuple[str, str | None]:
    """``(error, traceback)`` of a text made by ``join_error`` (traceback None without)."""
    error, separator, traceback = text.partition(_TRACEBACK_SEP)
    return error, (traceback if separator else None)


def check_limit(limit: object) -> int:
    """``limit`` of ``get_failed_jobs``: an int >= 0.

    Raises:
      ValueError: for a negative int; for a non-int (``bool`` included) a
        ``TypeError`` that is also a ``ValueError``.
    """
    if type(limit) is not int:
        msg = f"limit must be an int >= 0, not {shown(limit)}"
        raise ArgumentTypeError(msg)
    if limit < 0:
        msg = f"limit must be an int >= 0, not {shown(limit)}"
        raise ValueError(msg)
    return limit


class FailedRecord:
    """The failed-jobs record of an in-memory queue (see the module docstring).

    Each entry is a ``FailedJob`` and the enqueue sequence number of the job record
    it failed in (to tell a retry whether that record is still the live one).
    """

    __slots__ = ("_entries", "_headers", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: dict[tuple[str, str], tuple[FailedJob[Any], int]] = {}
        """(job id, group) -> (entry, seq), oldest first."""
        self._headers: dict[tuple[str, str], Mapping[str, str]] = {}
        """(job id, group) -> the job's headers, for entries of jobs that had some."""

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: FailedJob[Any], seq: int, headers: Mapping[str, str] = NO_HEADERS) -> None:
        """Record a failure as the newest entry; drop the oldest beyond ``max_size``."""
        entries = self._entries
        key = (entry.job_id, entry.consumer_group)
        entries.pop(key, None)
        entries[key] = (entry, seq)
        if headers:
            self._headers[key] = headers
        while len(entries) > self.max_size:
            oldest = next(iter(entries))
            del entries[oldest]
            self._headers.pop(oldest, None)

    def headers(self, job_id: str, group: str) -> Mapping[str, str]:
        """The headers of the job of an entry (empty when it had none)."""
        return self._headers.get((job_id, group), NO_HEADERS)

    def newest(self, group: str | None, limit: int) -> list[FailedJob[Any]]:
        """At most ``limit`` entries, newest first, of ``group`` (of every group for None)."""
        out: list[FailedJob[Any]] = []
        if limit <= 0:
            return out
        for entry, _seq in reversed(self._entries.values()):
            if group is None or entry.consumer_group == group:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def get(self, job_id: str, group: str) -> tuple[FailedJob[Any], int] | None:
        """The entry of ``job_id`` in ``group`` and its record's seq, if recorded."""
        return self._entries.get((job_id, group))

    def remove(self, job_id: str, group: str) -> bool:
        """Take out one entry; False when there is none."""
        self._headers.pop((job_id, group), None)
        return self._entries.pop((job_id, group), None) is not None

    def drop(self, group: str | None) -> int:
        """Remove every entry of ``group`` (every entry for None); how many went."""
        entries = self._entries
        if group is None:
            count = len(entries)
            self._entries = {}
            self._headers = {}
            return count
        keys = [key for key in entries if key[1] == group]
        for key in keys:
            del entries[key]
            self._headers.pop(key, None)
        return len(keys)
