"""The failed-jobs record of a Redis queue: ``FailedJob`` and how the record is read.

Deliveries that failed for good (retries exhausted, stalled too often, or not
decodable) are recorded by the scripts (``record_failure`` in ``common.lua``),
one entry per job and group, the last ``failed_jobs_max`` of a queue kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, final

import attrs

from ..._errors import SerializationError

if TYPE_CHECKING:
    from ._clients import Client
    from ._codec import PayloadCodec

__all__ = ["FailedJob", "delivery_key", "read_failed_jobs"]


@final
@attrs.frozen
class FailedJob:
    """One entry of a queue's failed-jobs record (a delivery that exhausted its retries)."""

    id: str
    group: str
    data: Any
    """The payload (decoded; the raw JSON text when it cannot be decoded)."""
    priority: int
    timestamp: datetime
    attempts: int
    """Retries made before the final failure."""
    error: str
    failed_at: datetime


def delivery_key(group: str, job_id: str) -> str:
    """The key of one job in one group: ``dkey()`` of ``common.lua``, whose ``#`` counts
    bytes, not characters."""
    return f"{len(group.encode('utf-8'))}:{group}{job_id}"


def _text(value: bytes | str) -> str:
    # the record is JSON written by cjson, which passes a payload's bytes through as they are
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def read_failed_jobs(
    client: Client, base: str, codec: PayloadCodec, limit: int
) -> list[FailedJob]:
    """The newest ``limit`` entries of the record, newest first."""
    keys = await client.zrange(f"{base}failedx", 0, max(limit, 1) - 1, rev=True)
    if not keys:
        return []
    values = await client.hmget(f"{base}failed", [_text(k) for k in keys])
    result: list[FailedJob] = []
    for value in values:
        if value is None:
            continue
        rec = json.loads(_text(value))
        try:
            data: Any = codec.decode(rec["data"])
        except SerializationError:
            data = rec["data"]
        result.append(
            FailedJob(
                id=rec["id"],
                group=rec["group"],
                data=data,
                priority=int(rec["priority"]),
                timestamp=_utc(int(rec["ts"])),
                attempts=int(rec["attempts"]),
                error=rec["error"],
                failed_at=_utc(int(rec["failed_at"])),
            )
        )
    return result
