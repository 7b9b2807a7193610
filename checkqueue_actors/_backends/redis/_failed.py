"""The failed-jobs record of a Redis queue: how its entries are keyed and read.

Deliveries that failed for good (retries exhausted, stalled too often, or not
decodable) are recorded by the scripts (``record_failure`` in ``common.lua``)
following the rules of ``_state/failed.py``: one entry per job and group, the
last ``failed_jobs_max`` of a queue kept. ``failed_read.lua`` reads them newest
first, ``failed_retry.lua`` and ``failed_drop.lua`` change them.

``FailedJob`` is the package's own (``checkqueue_actors.FailedJob``); the name is
kept here for the code that imported it from ``checkqueue_actors.redis``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..._errors import SerializationError
from ..._model import FailedJob
from ..._state.failed import split_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._codec import PayloadCodec

__all__ = ["FailedJob", "delivery_key", "parse_failed_jobs"]


def delivery_key(group: str, job_id: str) -> str:
    """The key of one job in one group: ``dkey()`` of ``common.lua``, whose ``#`` counts
    bytes, not characters."""
    return f"{len(group.encode('utf-8'))}:{group}{job_id}"


def _text(value: bytes | str) -> str:
    # the record is JSON written by cjson, which passes a payload's bytes through as they are
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_failed_jobs(values: Sequence[bytes | str], codec: PayloadCodec) -> list[FailedJob[Any]]:
    """The entries as ``failed_read.lua`` returns them (JSON texts), in their order."""
    result: list[FailedJob[Any]] = []
    for value in values:
        rec = json.loads(_text(value))
        try:
            data: Any = codec.decode(rec["data"])
        except SerializationError:
            data = rec["data"]
        error, traceback = split_error(str(rec["error"]))
        result.append(
            FailedJob(
                job_id=rec["id"],
                consumer_group=rec["group"],
                data=data,
                priority=int(rec["priority"]),
                attempts=int(rec["attempts"]),
                error=error,
                failed_at=_utc(int(rec["failed_at"])),
                timestamp=_utc(int(rec["ts"])),
                traceback=traceback,
            )
        )
    return result
