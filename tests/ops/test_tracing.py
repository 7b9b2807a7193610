"""OpenTelemetryInstrument: producer and consumer spans, linked through the job's headers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import trio
import trio.testing
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode, get_current_span

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors.testing import drain
from checkqueue_actors.tracing import OpenTelemetryInstrument


def _tracing() -> tuple[OpenTelemetryInstrument, InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryInstrument(provider), exporter, provider


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_the_consumer_span_is_the_child_of_the_producer_span(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parent, trace id, link, attributes, kinds; the span is current in the handler."""
    instrument, exporter, provider = _tracing()
    queue: InMemoryQueue[str] = InMemoryQueue("orders", instruments=[instrument])
    seen: list[tuple[str, dict[str, str]]] = []
    inner_tracer = provider.get_tracer("handler")

    async def handler(job: QueueJob[str]) -> None:
        seen.append((job.id, dict(job.headers)))
        with inner_tracer.start_as_current_span("charge card"):
            assert get_current_span().is_recording()

    async with queue:
        await queue.consume(handler, consumer_group="billing")
        await queue.enqueue("o-1", job_id="order-1", headers={"tenant": "acme"})
        await drain(queue)
    spans = exporter.get_finished_spans()
    [producer] = _by_name(spans, "create orders")
    [consumer] = _by_name(spans, "process orders")
    [inner] = _by_name(spans, "charge card")
    assert producer.kind is SpanKind.PRODUCER
    assert consumer.kind is SpanKind.CONSUMER
    produced = producer.get_span_context()
    assert produced is not None
    assert consumer.parent is not None
    assert consumer.parent.span_id == produced.span_id
    assert consumer.get_span_context().trace_id == produced.trace_id  # type: ignore[union-attr]
    assert [link.context.span_id for link in consumer.links] == [produced.span_id]
    assert inner.parent is not None
    assert inner.parent.span_id == consumer.get_span_context().span_id  # type: ignore[union-attr]
    assert dict(consumer.attributes or {}) == {
        "messaging.system": "checkqueue",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "orders",
        "messaging.consumer.group.name": "billing",
        "messaging.message.id": "order-1",
        "checkqueue.job.attempts": 0,
        "checkqueue.delivery.outcome": "completed",
    }
    assert (producer.attributes or {})["messaging.message.id"] == "order-1"
    assert consumer.status.status_code is StatusCode.UNSET
    [(job_id, headers)] = seen
    assert job_id == "order-1"
    assert headers["tenant"] == "acme"
    assert headers["traceparent"].startswith(
        f"00-{produced.trace_id:032x}-{produced.span_id:016x}-"
    )


async def test_failures_set_an_error_status(autojump_clock: trio.testing.MockClock) -> None:
    """retrying and failed deliveries are ERROR with error.type; each attempt is a span."""
    instrument, exporter, _ = _tracing()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[instrument])

    async def handler(job: QueueJob[str]) -> None:
        raise ValueError("boom")

    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=1)
        await queue.enqueue("x")
        await drain(queue)
    consumers = _by_name(exporter.get_finished_spans(), "process q")
    assert [(s.attributes or {})["error.type"] for s in consumers] == ["retrying", "failed"]
    assert {s.status.status_code for s in consumers} == {StatusCode.ERROR}
    assert len({s.parent.span_id for s in consumers if s.parent}) == 1


async def test_enqueue_many_gives_each_job_its_own_producer_span(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One creation context per job of a batch."""
    instrument, exporter, _ = _tracing()
    queue: InMemoryQueue[int] = InMemoryQueue("q", instruments=[instrument])
    parents: dict[str, str] = {}

    async def handler(job: QueueJob[int]) -> None:
        parents[job.id] = job.headers["traceparent"]

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue_many([1, 2, 3], job_ids=["a", "b", "c"])
        await drain(queue)
    producers = _by_name(exporter.get_finished_spans(), "create q")
    assert len(producers) == 3
    assert len(set(parents.values())) == 3


async def test_a_switch_keeps_the_creation_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A job moved to another backend keeps its traceparent: no second producer span."""
    instrument, exporter, _ = _tracing()
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    got: list[str] = []

    async def handler(job: QueueJob[Any]) -> None:
        got.append(job.headers["traceparent"])

    async with open_queue_manager(registry, instruments=[instrument]) as manager:
        queue = manager.get_queue("q")
        await queue.enqueue("moved", job_id="j", start_delay=10)
        [producer] = _by_name(exporter.get_finished_spans(), "create q")
        result = await manager.set_active_backend("memory", InMemoryQueueConfig(concurrency=3))
        assert result.migrated_pending_jobs == 1
        await queue.consume(handler, consumer_group="g")
        await trio.sleep(11)
    assert len(_by_name(exporter.get_finished_spans(), "create q")) == 1
    context = producer.get_span_context()
    assert context is not None
    [moved] = got
    assert moved.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    [consumer] = _by_name(exporter.get_finished_spans(), "process q")
    assert consumer.parent is not None
    assert consumer.parent.span_id == context.span_id


async def test_the_current_span_is_the_producer_parent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An enqueue inside a span (a web request, say) makes one trace with the job."""
    instrument, exporter, provider = _tracing()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[instrument])
    async with queue:
        with provider.get_tracer("app").start_as_current_span("POST /orders") as request:
            await queue.enqueue("x")
    [producer] = _by_name(exporter.get_finished_spans(), "create q")
    assert producer.parent is not None
    assert producer.parent.span_id == request.get_span_context().span_id


async def test_a_no_op_provider_leaves_no_per_job_hook(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """On a NoOpTracerProvider the instrument costs nothing per job: the runtime finds
    no prepare_headers, delivery_started or delivery_finished to call."""
    instrument = OpenTelemetryInstrument(NoOpTracerProvider())
    assert isinstance(instrument, OpenTelemetryInstrument)
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[instrument])
    hooks = queue.instruments
    assert (hooks.prepare_headers, hooks.delivery_started, hooks.delivery_finished) == ((), (), ())
    assert len(hooks.attached) == 1
    seen: list[dict[str, str]] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append(dict(job.headers))

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("x")
        await drain(queue)
    assert seen == [{}]


_LATE_PROVIDER = """
import time, trio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from checkqueue_actors import InMemoryQueue
from checkqueue_actors.testing import drain
from checkqueue_actors.tracing import OpenTelemetryInstrument

async def main():
    queue = InMemoryQueue("q", instruments=[OpenTelemetryInstrument()])
    headers = []

    async def handler(job):
        headers.append(sorted(job.headers))

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await queue.enqueue("before")
        await drain(queue)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        await queue.enqueue("just after")  # within 0.25 s: may be untraced
        await trio.sleep(0.3)
        await queue.enqueue("later")
        await drain(queue)
    names = sorted(span.name for span in exporter.get_finished_spans())
    print(headers[0], headers[-1], names.count("create q") >= 1, names.count("process q") >= 1)

trio.run(main)
"""


def test_a_global_provider_set_later_is_used() -> None:
    """With no provider given and none set, jobs carry no trace headers; once the
    application sets the global provider, jobs are traced (within 0.25 s). Run in a
    child process: the global provider can be set once per process."""
    out = subprocess.run(
        [sys.executable, "-c", _LATE_PROVIDER], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "['traceparent']", "True", "True"]
