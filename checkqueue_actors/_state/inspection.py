"""Reading the in-memory engine's jobs as ``JobInfo`` (``get_job`` and ``list_jobs``).

Where a job stands in one group is read off the engine's structures, never stored
twice: ``delayed`` while its record's initial delay runs, ``running`` while the
group's ``running`` map holds a delivery of it, ``retrying`` while the group's
``retrying`` map holds it, ``waiting`` otherwise (in the group's ready set), unless
the group is done with it (``JobRecord.done``); ``failed`` from the failed-jobs
record. Nothing here changes the engine.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING, Any

from .._model import JobGroupState, JobInfo
from .failed import split_error

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .._model import FailedJob, JobState
    from .engine import GroupState, JobRecord, QueueEngine

__all__ = ["job_info", "list_jobs"]


def _group_state(engine: QueueEngine, record: JobRecord, group: GroupState) -> JobGroupState | None:
    """Where ``record`` stands in ``group`` (None: the group is done with it)."""
    job_id = record.id
    if group.name in record.done:
        return None
    stored = group.errors.get(job_id) if group.errors else None
    error, traceback = split_error(stored) if stored is not None else (None, None)
    to_wall = engine.clock.to_wall
    delivery = group.running.get(job_id)
    if delivery is not None and delivery.record is record:
        return JobGroupState("running", delivery.attempts, None, error, traceback)
    if record.delayed:
        return JobGroupState("delayed", 0, to_wall(record.available_at), error, traceback)
    retrying = group.retrying.get(job_id)
    if retrying is not None:
        return JobGroupState("retrying", retrying[0], to_wall(retrying[1]), error, traceback)
    attempts = group.attempts.get(job_id, 0) if group.attempts else 0
    since = group.since.get(job_id, record.available_at) if group.since else record.available_at
    return JobGroupState("waiting", attempts, to_wall(since), error, traceback)


def _failed_state(entry: FailedJob[Any]) -> JobGroupState:
    return JobGroupState("failed", entry.attempts, None, entry.error, entry.traceback)


def _info(engine: QueueEngine, record: JobRecord) -> JobInfo[Any]:
    """The ``JobInfo`` of a job in the queue (with the failures other groups recorded)."""
    groups: dict[str, JobGroupState] = {}
    if record.groups is not None:
        for group in record.groups:
            state = _group_state(engine, record, group)
            if state is not None:
                groups[group.name] = state
        for name in record.reserved:
            # kept for a group that does not exist yet: it waits for it
            groups[name] = JobGroupState("waiting", 0, engine.clock.to_wall(record.available_at))
    _add_failed(engine, record.id, groups)
    return JobInfo(
        id=record.id,
        data=record.data,
        priority=record.priority,
        timestamp=record.timestamp,
        headers=record.headers,
        groups=groups,
    )


def _add_failed(engine: QueueEngine, job_id: str, groups: dict[str, JobGroupState]) -> None:
    failed = engine.failed_record
    if not len(failed):
        return
    for group in engine.groups:
        if group.name not in groups:
            found = failed.get(job_id, group.name)
            if found is not None:
                groups[group.name] = _failed_state(found[0])


def job_info(engine: QueueEngine, job_id: str) -> JobInfo[Any] | None:
    """``get_job``: the job in the queue, or known only from the failed-jobs record."""
    record = engine.get(job_id)
    if record is not None:
        return _info(engine, record)
    groups: dict[str, JobGroupState] = {}
    _add_failed(engine, job_id, groups)
    if not groups:
        return None
    return _failed_info(engine, job_id, groups)


def _failed_info(
    engine: QueueEngine, job_id: str, groups: dict[str, JobGroupState]
) -> JobInfo[Any]:
    """A job known only from the failed-jobs record (every group is done with it)."""
    group = next(iter(groups))
    found = engine.failed_record.get(job_id, group)
    assert found is not None
    entry = found[0]
    return JobInfo(
        id=job_id,
        data=entry.data,
        priority=entry.priority,
        timestamp=entry.timestamp or entry.failed_at,
        headers=engine.failed_record.headers(job_id, group),
        groups=groups,
    )


# -- listing ----------------------------------------------------------------------------------


def _waiting(engine: QueueEngine, group: str | None) -> Iterator[JobRecord]:
    """Waiting jobs in delivery order, merged over the groups (a job may repeat)."""
    if group is not None:
        state = engine.group(group)
        if state is None:
            return
        for entry in state.ready.ordered():
            yield entry[3]
        return
    streams: list[Iterable[tuple[int, float, int, JobRecord]]] = [
        state.ready.ordered() for state in engine.groups
    ]
    streams.append(
        (-r.priority, r.available_at, r.seq, r)
        for r in sorted(engine.orphans(), key=lambda r: (-r.priority, r.available_at, r.seq))
        if not r.delayed and not r.dropped
    )
    for entry in heapq.merge(*streams, key=lambda e: (e[0], e[1], e[2])):
        yield entry[3]


def _running(engine: QueueEngine, group: str | None) -> Iterator[JobRecord]:
    for state in engine.groups:
        if group is None or state.name == group:
            for delivery in list(state.running.values()):
                if not delivery.record.dropped:
                    yield delivery.record


def _retrying(engine: QueueEngine, group: str | None) -> Iterator[JobRecord]:
    """Jobs in a retry's backoff, the soonest due first."""
    entries: list[tuple[float, int, JobRecord]] = []
    for state in engine.groups:
        if group is None or state.name == group:
            for job_id, (_attempts, due) in state.retrying.items():
                record = engine.get(job_id)
                if record is not None:
                    entries.append((due, record.seq, record))
    entries.sort(key=lambda e: (e[0], e[1]))
    for entry in entries:
        yield entry[2]


def _delayed(engine: QueueEngine, group: str | None) -> Iterator[JobRecord]:
    """Jobs whose initial delay runs, the soonest available first."""
    records = [r for r in engine.records() if r.delayed and (group is None or _owes(r, group))]
    records.sort(key=lambda r: (r.available_at, r.seq))
    yield from records


def _owes(record: JobRecord, group: str) -> bool:
    if group in record.reserved:
        return True
    if record.groups is None:
        return False
    return any(state.name == group for state in record.groups) and group not in record.done


def _failed(engine: QueueEngine, group: str | None, limit: int) -> list[JobInfo[Any]]:
    out: list[JobInfo[Any]] = []
    seen: set[str] = set()
    # newest first; one entry per job and group, so at most one per group per job
    for entry in engine.failed_record.newest(group, len(engine.failed_record)):
        if entry.job_id in seen:
            continue
        seen.add(entry.job_id)
        info = job_info(engine, entry.job_id)
        assert info is not None
        out.append(info)
        if len(out) >= limit:
            break
    return out


def list_jobs(
    engine: QueueEngine, state: JobState | None, group: str | None, limit: int
) -> list[JobInfo[Any]]:
    """``list_jobs``: see ``Storage.list_jobs`` for the order."""
    if state == "failed":
        return _failed(engine, group, limit)
    if state is None:
        sources: Iterable[JobRecord] = itertools.chain(
            _running(engine, group),
            _waiting(engine, group),
            _retrying(engine, group),
            _delayed(engine, group),
        )
    elif state == "waiting":
        sources = _waiting(engine, group)
    elif state == "running":
        sources = _running(engine, group)
    elif state == "retrying":
        sources = _retrying(engine, group)
    else:
        sources = _delayed(engine, group)
    out: list[JobInfo[Any]] = []
    seen: set[str] = set()
    for record in sources:
        if record.id in seen:
            continue
        seen.add(record.id)
        out.append(_info(engine, record))
        if len(out) >= limit:
            break
    return out
