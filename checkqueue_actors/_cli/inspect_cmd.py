"""``inspect``: look at and steer the queues of a Redis server from a shell.

``python -m checkqueue_actors inspect [--url URL] [--key-prefix P] [--json] COMMAND ...``
with the commands ``queues``, ``stats Q``, ``jobs Q``, ``job Q ID``, ``failed Q``,
``retry Q ID --group G``, ``drop Q``, ``cancel Q ID``, ``pause Q``, ``resume Q`` and
``recurring Q``. Output is a table for people (aligned, readable at 80 columns), or
JSON with ``--json`` (one document on stdout, for scripts and ``jq``).

A queue is known when a queue of that name has run under the prefix (queues record
their names when they open); an unknown queue, job or failed entry exits with status
1 and one line on stderr. Exit statuses: 0 done; 1 unknown queue or job, or nothing
to do; 2 a bad argument; 4 the server cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Final

import trio

from .._errors import BackendRefusedError, BackendUnavailableError
from ._parser import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from .._model import FailedJob, JobInfo, QueueStats, RecurringJobDetails
    from .._storage import PauseState
    from ..redis import RedisQueue, RedisQueueConfig

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME: Final = "inspect"
HELP: Final = "look at and steer the queues of a Redis server (tables, or JSON with --json)"

URL_VARIABLE: Final = "CHECKQUEUE_URL"
EXIT_UNKNOWN: Final = 1
"""An unknown queue, job or failed entry, or nothing to do."""

_STATES: Final = ("waiting", "delayed", "running", "retrying", "failed")
_WIDTH: Final = 80


class _Refusal(Exception):
    """The command cannot be done: one line says why (``status`` is the exit status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 10_000:
        msg = f"must be an int in 1..10000, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The inspect command's arguments and sub-commands."""
    parser.add_argument(
        "--url", default=None, help=f"Redis URL, redis:// or rediss:// (default: ${URL_VARIABLE})"
    )
    parser.add_argument("--key-prefix", default=None, help="Redis key prefix (default: cq)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="inspect_command", required=True, metavar="COMMAND")
    sub.add_parser("queues", help="every queue of the prefix, with its counters")

    def queue_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("queue", metavar="Q", help="the queue's name")
        return command

    queue_command("stats", "a queue's counters and pause state")
    jobs = queue_command("jobs", "jobs by state, waiting ones in delivery order")
    jobs.add_argument("--state", choices=_STATES, default=None)
    jobs.add_argument("--group", default=None, help="one consumer group only")
    jobs.add_argument("--limit", type=_limit, default=100, help="at most N jobs (default 100)")
    job = queue_command("job", "one job: payload, headers, state in each group")
    job.add_argument("job_id", metavar="ID")
    failed = queue_command("failed", "the failed-jobs record, newest first")
    failed.add_argument("--group", default=None, help="one consumer group only")
    failed.add_argument("--limit", type=_limit, default=100, help="at most N entries")
    retry = queue_command("retry", "run a failed job again in one group")
    retry.add_argument("job_id", metavar="ID")
    retry.add_argument("--group", required=True, help="the consumer group it failed in")
    drop = queue_command("drop", "forget failed-jobs entries (of one group, or all)")
    drop.add_argument("--group", default=None)
    cancel = queue_command("cancel", "cancel a job in every group (waiting or running)")
    cancel.add_argument("job_id", metavar="ID")
    pause = queue_command("pause", "start no new delivery (in one group, or the whole queue)")
    pause.add_argument("--group", default=None)
    resume = queue_command("resume", "undo pause (without --group: the whole queue)")
    resume.add_argument("--group", default=None)
    queue_command("recurring", "recurring schedules and their next run")


# -- formatting -------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, flex: int = -1) -> str:
    """An aligned table; column ``flex`` (default the last) is cut so that a line fits
    in 80 columns."""
    if not rows:
        return "(none)"
    columns = len(headers)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(columns)]
    flex = flex % columns
    others = sum(w for i, w in enumerate(widths) if i != flex) + 2 * (columns - 1)
    widths[flex] = max(len(headers[flex]), min(widths[flex], _WIDTH - others))
    lines: list[str] = []
    for row in [headers, *rows]:
        cells = [_cut(str(cell), widths[i]).ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _stats_json(name: str, stats: QueueStats, paused: PauseState) -> dict[str, Any]:
    return {
        "queue": name,
        "pending": stats.pending,
        "processing": stats.processing,
        "completed": stats.completed,
        "failed": stats.failed,
        "consumer_groups": stats.consumer_groups,
        "paused": paused.queue,
        "paused_groups": sorted(paused.groups),
    }


async def _read_stats(queue: RedisQueue[Any]) -> tuple[QueueStats, PauseState]:
    return await queue.get_stats(), await queue.storage.pause_state()


def _job_json(info: JobInfo[Any]) -> dict[str, Any]:
    return {
        "id": info.id,
        "data": info.data,
        "priority": info.priority,
        "timestamp": _iso(info.timestamp),
        "headers": dict(info.headers),
        "groups": {
            group: {
                "state": state.state,
                "attempts": state.attempts,
                "available_at": _iso(state.available_at),
                "last_error": state.last_error,
                "last_traceback": state.last_traceback,
            }
            for group, state in info.groups.items()
        },
    }


def _failed_json(entry: FailedJob[Any]) -> dict[str, Any]:
    return {
        "job_id": entry.job_id,
        "consumer_group": entry.consumer_group,
        "data": entry.data,
        "priority": entry.priority,
        "attempts": entry.attempts,
        "error": entry.error,
        "traceback": entry.traceback,
        "failed_at": _iso(entry.failed_at),
    }


def _recurring_json(details: RecurringJobDetails[Any]) -> dict[str, Any]:
    return {
        "job_id": details.job_id,
        "data": details.data,
        "priority": details.priority,
        "interval_seconds": details.interval_seconds,
        "cron_pattern": details.cron_pattern,
        "timezone": details.timezone,
        "next_run_at": _iso(details.next_run_at),
    }


def _states(info: JobInfo[Any]) -> str:
    if not info.groups:
        return "waiting (no group yet)"
    return " ".join(f"{group}:{state.state}" for group, state in info.groups.items())


def _job_text(info: JobInfo[Any]) -> str:
    lines = [
        f"id:        {info.id}",
        f"priority:  {info.priority}",
        f"enqueued:  {_when(info.timestamp)} UTC",
        f"headers:   {json.dumps(dict(info.headers), ensure_ascii=False) if info.headers else '-'}",
        "data:",
        *("  " + line for line in json.dumps(info.data, indent=2, default=str).splitlines()),
        "",
    ]
    rows = [
        [
            group,
            state.state,
            str(state.attempts),
            _when(state.available_at),
            state.last_error or "-",
        ]
        for group, state in info.groups.items()
    ]
    lines.append(table(["GROUP", "STATE", "ATTEMPTS", "AVAILABLE AT", "LAST ERROR"], rows))
    for group, state in info.groups.items():
        if state.last_traceback:
            lines.extend(["", f"traceback of the last failure in {group}:"])
            lines.extend("  " + line for line in state.last_traceback.rstrip().splitlines())
    return "\n".join(lines)


# -- running ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> RedisQueueConfig:
    url: str | None = args.url or os.environ.get(URL_VARIABLE)
    if not url:
        msg = f"inspect needs --url or ${URL_VARIABLE} (a redis:// or rediss:// URL)"
        raise _Refusal(msg, EXIT_USAGE)
    try:
        from ..redis import RedisQueueConfig
    except ImportError:
        msg = "inspect needs the redis backend: pip install 'checkqueue_actors[redis]'"
        raise _Refusal(msg, EXIT_USAGE) from None
    options: dict[str, Any] = {"url": url}
    if args.key_prefix is not None:
        options["key_prefix"] = args.key_prefix
    try:
        return RedisQueueConfig(**options)
    except (TypeError, ValueError) as exc:
        # no message of RedisQueueConfig quotes the URL (it may hold a password)
        msg = f"invalid option: {exc}"
        raise _Refusal(msg, EXIT_USAGE) from None


async def _queue_names(config: RedisQueueConfig) -> list[str]:
    from ..redis import list_queue_names

    return await list_queue_names(config)


async def _with_queue(
    config: RedisQueueConfig, name: str, call: Callable[[RedisQueue[Any]], Awaitable[Any]]
) -> Any:
    """Run ``call`` on the queue ``name``, which must be known under the prefix."""
    from ..redis import RedisQueue

    if name not in await _queue_names(config):
        msg = f"no queue {name!r} under key prefix {config.key_prefix!r}"
        raise _Refusal(msg, EXIT_UNKNOWN)
    async with RedisQueue[Any](name, config) as queue:
        return await call(queue)


async def _inspect(args: argparse.Namespace, config: RedisQueueConfig) -> tuple[Any, str]:
    """Do the command: ``(JSON document, text for people)``."""
    command: str = args.inspect_command
    if command == "queues":
        from ..redis import RedisQueue

        documents: list[dict[str, Any]] = []
        for queue_name in await _queue_names(config):
            async with RedisQueue[Any](queue_name, config) as queue:
                counters, paused = await _read_stats(queue)
            documents.append(_stats_json(queue_name, counters, paused))
        rows = [
            [
                d["queue"],
                str(d["pending"]),
                str(d["processing"]),
                str(d["completed"]),
                str(d["failed"]),
                str(d["consumer_groups"]),
                "paused" if d["paused"] else " ".join(f"{g}:paused" for g in d["paused_groups"]),
            ]
            for d in documents
        ]
        headers = ["QUEUE", "PENDING", "RUNNING", "COMPLETED", "FAILED", "GROUPS", ""]
        return documents, table(headers, rows, flex=0)

    name: str = args.queue
    if command == "stats":

        async def stats(queue: RedisQueue[Any]) -> dict[str, Any]:
            return _stats_json(name, *await _read_stats(queue))

        document = await _with_queue(config, name, stats)
        width = max(len(key) for key in document)
        shown = {**document, "paused_groups": ", ".join(document["paused_groups"]) or "-"}
        text = "\n".join(f"{key.ljust(width)}  {value}" for key, value in shown.items())
        return document, text
    if command == "jobs":
        infos: list[JobInfo[Any]] = await _with_queue(
            config,
            name,
            lambda q: q.list_jobs(state=args.state, consumer_group=args.group, limit=args.limit),
        )
        rows = [
            [info.id, str(info.priority), _when(info.timestamp), _states(info)] for info in infos
        ]
        text = table(["ID", "PRIORITY", "ENQUEUED (UTC)", "STATE BY GROUP"], rows, flex=0)
        return [_job_json(info) for info in infos], text
    if command == "job":
        info = await _with_queue(config, name, lambda q: q.get_job(args.job_id))
        if info is None:
            msg = f"no job {args.job_id!r} in queue {name!r}"
            raise _Refusal(msg, EXIT_UNKNOWN)
        return _job_json(info), _job_text(info)
    if command == "failed":
        entries: list[FailedJob[Any]] = await _with_queue(
            config, name, lambda q: q.get_failed_jobs(consumer_group=args.group, limit=args.limit)
        )
        rows = [
            [e.job_id, e.consumer_group, str(e.attempts), _when(e.failed_at), e.error]
            for e in entries
        ]
        headers = ["JOB ID", "GROUP", "ATTEMPTS", "FAILED AT (UTC)", "ERROR"]
        return [_failed_json(e) for e in entries], table(headers, rows)
    if command == "retry":
        retried = await _with_queue(
            config, name, lambda q: q.retry_failed_job(args.job_id, consumer_group=args.group)
        )
        if not retried:
            msg = f"no failed entry of job {args.job_id!r} in group {args.group!r} of {name!r}"
            raise _Refusal(msg, EXIT_UNKNOWN)
        return {"retried": True}, f"job {args.job_id!r} runs again in group {args.group!r}"
    if command == "drop":
        count = await _with_queue(
            config, name, lambda q: q.drop_failed_jobs(consumer_group=args.group)
        )
        return {"dropped": count}, f"{count} failed-jobs entries dropped"
    if command == "cancel":
        cancelled = await _with_queue(config, name, lambda q: q.cancel_job(args.job_id))
        if not cancelled:
            msg = f"no job {args.job_id!r} waiting or running in queue {name!r}"
            raise _Refusal(msg, EXIT_UNKNOWN)
        return {"cancelled": True}, f"job {args.job_id!r} cancelled"
    if command in ("pause", "resume"):
        group: str | None = args.group

        async def toggle(queue: RedisQueue[Any]) -> bool:
            await (queue.pause(group) if command == "pause" else queue.resume(group))
            return await queue.is_paused(group)

        paused = await _with_queue(config, name, toggle)
        what = f"group {group!r} of queue {name!r}" if group else f"queue {name!r}"
        return {"paused": paused}, f"{what} {'paused' if paused else 'runs'}"
    # recurring

    async def recurring(queue: RedisQueue[Any]) -> list[RecurringJobDetails[Any]]:
        found: list[RecurringJobDetails[Any]] = []
        for job_id in await queue.list_recurring_jobs():
            details = await queue.get_recurring_job_details(job_id)
            if details is not None:
                found.append(details)
        return found

    schedules: list[RecurringJobDetails[Any]] = await _with_queue(config, name, recurring)
    rows = [
        [
            d.job_id,
            f"every {d.interval_seconds:g} s"
            if d.interval_seconds is not None
            else f"cron {d.cron_pattern} {d.timezone or 'UTC'}",
            _when(d.next_run_at),
            str(d.priority),
        ]
        for d in schedules
    ]
    headers = ["JOB ID", "SCHEDULE", "NEXT RUN (UTC)", "PRIORITY"]
    return [_recurring_json(d) for d in schedules], table(headers, rows, flex=0)


def run(args: argparse.Namespace) -> int:
    """Run the inspect command; returns the exit status."""
    # the queues' own warnings (a server without AOF, say) are for workers' logs, not for
    # the output of a command run by hand
    library = logging.getLogger("checkqueue_actors")
    level = library.level
    library.setLevel(logging.ERROR)
    try:
        return _run(args)
    finally:
        library.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        document, text = trio.run(_inspect, args, config)
    except _Refusal as exc:
        sys.stderr.write(f"inspect: {exc}\n")
        return exc.status
    except BackendUnavailableError as exc:
        sys.stderr.write(f"inspect: the backend cannot be reached: {exc}\n")
        return EXIT_UNREACHABLE
    except (BackendRefusedError, ValueError) as exc:
        sys.stderr.write(f"inspect: {exc}\n")
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_UNKNOWN
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK
