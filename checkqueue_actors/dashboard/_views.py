"""What the pages and the JSON API show, as JSON-ready dicts (one source for both)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

import attrs

from .._model import JOB_STATES
from ._sampler import sparkline_points

if TYPE_CHECKING:
    from .._model import FailedJob, JobInfo, QueueStats, RecurringJobDetails
    from .._protocols import Queue
    from ._sampler import Sampler
    from ._sources import Presence

__all__ = [
    "COUNT_CAP",
    "PAGE_SIZE",
    "failed_view",
    "job_view",
    "jobs_view",
    "overview_view",
    "queue_view",
    "recurring_view",
    "to_json",
]

COUNT_CAP: Final = 1000
"""Per group and state, jobs are counted up to this many (beyond: "1000+")."""
PAGE_SIZE: Final = 50
"""Jobs per page of the jobs list."""
LIST_MAX: Final = 10_000
"""``list_jobs`` returns at most this many: the jobs list reaches that far."""


def jsonable(value: object) -> Any:
    """``value`` as a JSON value: itself, an attrs instance as a dict, else its repr."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        if attrs.has(type(value)):
            fields: dict[str, object] = attrs.asdict(cast("Any", value), recurse=False)
            return {k: jsonable(v) for k, v in fields.items()}
        if isinstance(value, list | tuple):
            items: list[object] = list(value)  # pyright: ignore[reportUnknownArgumentType]
            return [jsonable(v) for v in items]
        if isinstance(value, dict):
            pairs: list[tuple[object, object]] = list(value.items())  # pyright: ignore[reportUnknownArgumentType]
            return {str(k): jsonable(v) for k, v in pairs}
        return repr(value)
    return value


def to_json(value: object) -> str:
    """Indented JSON text of ``value`` (for a payload shown in a page)."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, sort_keys=True)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def stats_view(stats: QueueStats) -> dict[str, int]:
    """The stats' counters."""
    return {
        "pending": stats.pending,
        "processing": stats.processing,
        "completed": stats.completed,
        "failed": stats.failed,
        "consumer_groups": stats.consumer_groups,
    }


def job_view(job: JobInfo[Any]) -> dict[str, Any]:
    """One job and where it stands in each group."""
    return {
        "id": job.id,
        "data": jsonable(job.data),
        "priority": job.priority,
        "timestamp": _time(job.timestamp),
        "headers": dict(job.headers),
        "groups": {
            name: {
                "state": g.state,
                "attempts": g.attempts,
                "available_at": _time(g.available_at),
                "last_error": g.last_error,
                "last_traceback": g.last_traceback,
            }
            for name, g in sorted(job.groups.items())
        },
    }


def failed_view(entry: FailedJob[Any]) -> dict[str, Any]:
    """One entry of the failed-jobs record."""
    return {
        "job_id": entry.job_id,
        "consumer_group": entry.consumer_group,
        "data": jsonable(entry.data),
        "priority": entry.priority,
        "attempts": entry.attempts,
        "error": entry.error,
        "traceback": entry.traceback,
        "failed_at": _time(entry.failed_at),
    }


def recurring_view(details: RecurringJobDetails[Any]) -> dict[str, Any]:
    """One recurring schedule."""
    return {
        "job_id": details.job_id,
        "data": jsonable(details.data),
        "priority": details.priority,
        "interval_seconds": details.interval_seconds,
        "cron_pattern": details.cron_pattern,
        "timezone": details.timezone,
        "next_run_at": _time(details.next_run_at),
    }


async def overview_view(
    names: list[str], queues: list[Queue[Any]], sampler: Sampler
) -> dict[str, Any]:
    """Every queue's counters, pause and throughput."""
    rows: list[dict[str, Any]] = []
    live: dict[str, Any] = {"queues": "\n".join(names)}
    for name, queue in zip(names, queues, strict=True):
        stats = stats_view(await queue.get_stats())
        paused = await queue.is_paused()
        rate = sampler.completed_rate(name)
        throughput = sampler.throughput(name)
        spark = sparkline_points(throughput)
        rows.append(
            {
                "name": name,
                "stats": stats,
                "paused": paused,
                "completed_rate": rate,
                "throughput": throughput,
                "spark": spark,
            }
        )
        for key, value in stats.items():
            live[f"{name}\n{key}"] = value
        live[f"{name}\nrate"] = "-" if rate is None else f"{rate:.2f}/s"
        live[f"{name}\npaused"] = paused
        live[f"{name}\nspark"] = spark
    return {"queues": rows, "live": live}


async def _count(queue: Queue[Any], state: str, group: str) -> int:
    jobs = await queue.list_jobs(state=state, consumer_group=group, limit=COUNT_CAP + 1)  # type: ignore[arg-type]  # one of JOB_STATES
    return len(jobs)


async def queue_view(
    name: str, queue: Queue[Any], presence: Presence, sampler: Sampler
) -> dict[str, Any]:
    """A queue's counters, its groups (counts by state, consumers, pause) and schedules."""
    stats = stats_view(await queue.get_stats())
    paused = await queue.is_paused()
    live: dict[str, Any] = {f"{name}\n{key}": value for key, value in stats.items()}
    live[f"{name}\npaused"] = paused
    groups: list[dict[str, Any]] = []
    for group in presence.groups:
        counts = {state: await _count(queue, state, group.name) for state in JOB_STATES}
        group_paused = await queue.is_paused(group.name)
        seen = group.last_seen_seconds
        groups.append(
            {
                "name": group.name,
                "paused": group_paused,
                "counts": counts,
                "consumers_here": group.consumers_here,
                "last_seen_seconds": None if seen is None or math.isinf(seen) else seen,
            }
        )
        for state, n in counts.items():
            live[f"{name}\n{group.name}\n{state}"] = f"{COUNT_CAP}+" if n > COUNT_CAP else n
        live[f"{name}\n{group.name}\npaused"] = group_paused
    recurring: list[dict[str, Any]] = []
    for job_id in sorted(await queue.list_recurring_jobs()):
        details = await queue.get_recurring_job_details(job_id)
        if details is not None:
            recurring.append(recurring_view(details))
    rate = sampler.completed_rate(name)
    live[f"{name}\nrate"] = "-" if rate is None else f"{rate:.2f}/s"
    return {
        "name": name,
        "stats": stats,
        "paused": paused,
        "completed_rate": rate,
        "processes_alive": presence.processes_alive,
        "groups": groups,
        "recurring": recurring,
        "count_cap": COUNT_CAP,
        "live": live,
    }


async def jobs_view(
    queue: Queue[Any], state: str | None, group: str | None, page: int
) -> dict[str, Any]:
    """One page of jobs, in delivery order for waiting ones (``page`` from 1)."""
    start = (page - 1) * PAGE_SIZE
    limit = min(LIST_MAX, start + PAGE_SIZE + 1)
    if start >= LIST_MAX:
        found: list[JobInfo[Any]] = []
    else:
        found = await queue.list_jobs(state=state, consumer_group=group, limit=limit)  # type: ignore[arg-type]  # checked by the caller
    shown = found[start : start + PAGE_SIZE]
    return {
        "state": state,
        "group": group,
        "page": page,
        "page_size": PAGE_SIZE,
        "has_next": len(found) > start + PAGE_SIZE,
        "jobs": [job_view(job) for job in shown],
    }
