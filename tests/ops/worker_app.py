"""Setup functions and instruments the worker subprocess tests run (``tests.ops.worker_app:...``).

Configured through the environment, so that one module serves every test:

- ``CQ_LEDGER``: a file each handler appends ``start <job id> <pid>`` and
  ``done <job id> <pid>`` lines to (one ``os.write`` on an ``O_APPEND`` descriptor);
- ``CQ_WORK_SECONDS``: how long a handler sleeps (default 0);
- ``CQ_ENQUEUE``: jobs the setup enqueues itself (default 0; for the in-memory backend);
- ``CQ_SPANS``: a file the ``tracing_instrument`` writes each finished span to, one
  JSON object per line.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExportResult

    from checkqueue_actors import QueueJob, QueueManager


def _write(line: str) -> None:
    path = os.environ.get("CQ_LEDGER")
    if path is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def work(job: QueueJob[Any]) -> None:
    """Log the start, sleep ``CQ_WORK_SECONDS``, log the end."""
    pid = os.getpid()
    _write(f"start {job.id} {pid}")
    await trio.sleep(float(os.environ.get("CQ_WORK_SECONDS", "0")))
    _write(f"done {job.id} {pid}")


async def setup(manager: QueueManager) -> None:
    """One queue ``jobs`` with one consumer in group ``workers``."""
    queue = manager.get_queue("jobs")
    await queue.consume(work, consumer_group="workers")
    for i in range(int(os.environ.get("CQ_ENQUEUE", "0"))):
        await queue.enqueue({"n": i}, job_id=f"job-{i}")


def not_async(manager: QueueManager) -> None:
    """A plain function: the worker refuses it."""


async def broken_setup(manager: QueueManager) -> None:
    """A setup that fails."""
    raise RuntimeError("no database configured")


class _JsonLinesExporter:
    """Writes every span to ``CQ_SPANS``, one JSON object per line."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        with open(os.environ["CQ_SPANS"], "a", encoding="utf-8") as out:
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                out.write(
                    json.dumps(
                        {
                            "name": span.name,
                            "kind": span.kind.name,
                            "trace_id": format(context.trace_id, "032x"),
                            "span_id": format(context.span_id, "016x"),
                            "parent_span_id": (
                                format(span.parent.span_id, "016x") if span.parent else None
                            ),
                            "attributes": dict(span.attributes or {}),
                            "status": span.status.status_code.name,
                        }
                    )
                    + "\n"
                )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every span is written as it ends."""
        return True


def tracing_instrument() -> object:
    """An ``OpenTelemetryInstrument`` whose spans go to ``CQ_SPANS``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from checkqueue_actors.tracing import OpenTelemetryInstrument

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_JsonLinesExporter()))  # type: ignore[arg-type]
    return OpenTelemetryInstrument(provider)
