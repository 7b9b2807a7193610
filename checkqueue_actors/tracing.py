"""OpenTelemetry traces of jobs (needs ``opentelemetry-api``: the ``tracing`` extra).

``OpenTelemetryInstrument`` is an instrument (see ``checkqueue_actors.Instrument``)
that follows the OpenTelemetry messaging conventions:

- a ``create <queue>`` span (kind PRODUCER) per job enqueued, a child of the span
  current at the ``enqueue`` call; its context is written into the job's headers by
  the global propagator (W3C ``traceparent``, and ``tracestate``/``baggage`` when
  set), so it travels with the job through the backend, to other processes and
  across backend switches;
- a ``process <queue>`` span (kind CONSUMER) per delivery, whose **parent** is the
  job's creation context (one job is one message: the handler's work belongs to the
  trace that enqueued it), with a **link** to it as well for tools that follow
  links. The span is current while the handler runs, so the handler's own spans are
  its children. Its status is ERROR (``error.type`` the outcome) when the delivery
  ``failed``, ``timed_out`` or ends ``retrying`` (the handler failed and the job will
  run again), and UNSET otherwise; the outcome is in ``checkqueue.delivery.outcome``.

The producer span is ended as soon as the context is written, before the job is
stored: the instrument hook runs before the store, and a duplicate job id or a
refused store would otherwise leave a span open. It is the message's creation context
(operation type ``create``), not a timing of the store.

A job whose headers already carry the propagator's fields (a job moved by a backend
switch, or one the caller enqueued with its own ``traceparent``) keeps them: no
producer span is made for it.

Attributes: ``messaging.system`` (``"checkqueue"``), ``messaging.operation.name`` and
``.type`` (``create`` / ``process``), ``messaging.destination.name`` (the queue),
``messaging.message.id`` (the job id), ``messaging.consumer.group.name`` (the group,
on process spans), ``checkqueue.job.attempts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator

    from ._actors.instruments import DeliveryOutcome
    from ._model import QueueJob

__all__ = ["MESSAGING_SYSTEM", "OpenTelemetryInstrument"]

MESSAGING_SYSTEM: Final = "checkqueue"
"""The ``messaging.system`` attribute of every span."""


class _HeaderSetter(Setter[dict[str, str]]):
    """Writes the propagator's fields into new job headers."""

    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        carrier[key] = value


class _HeaderGetter(Getter["Mapping[str, str]"]):
    """Reads the propagator's fields from a job's headers."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_SETTER: Final = _HeaderSetter()
_GETTER: Final = _HeaderGetter()

_ERROR_OUTCOMES: Final = frozenset({"failed", "timed_out", "retrying"})


class OpenTelemetryInstrument:
    """Traces enqueues and deliveries (see the module doc).

    Args:
      tracer_provider: Where spans go (``None``: the global tracer provider).
      propagator: How the creation context is written into and read from job headers
        (``None``: the global one, ``OTEL_PROPAGATORS``, W3C trace context and
        baggage by default).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        from . import __version__

        self._tracer = trace.get_tracer(
            "checkqueue_actors", __version__, tracer_provider=tracer_provider
        )
        self._propagator = propagator if propagator is not None else propagate.get_global_textmap()
        self._fields = frozenset(self._propagator.fields)
        self._open: dict[tuple[int, str], tuple[trace.Span, Token[Context]]] = {}
        self._off = isinstance(self._tracer, trace.NoOpTracer)
        """A no-op tracer provider: every hook returns at once."""

    def prepare_headers(
        self, queue: Any, job_id: str, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        """Make the job's producer span and return its context as headers."""
        if self._off or (headers and not self._fields.isdisjoint(headers)):
            return None  # no tracing, or it carries a creation context already
        name: str = queue.name
        span = self._tracer.start_span(
            f"create {name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.name": "create",
                "messaging.operation.type": "create",
                "messaging.destination.name": name,
                "messaging.message.id": job_id,
            },
        )
        if not span.get_span_context().is_valid:
            return None  # a no-op tracer (the global one, unset): nothing to carry
        carrier: dict[str, str] = {}
        try:
            self._propagator.inject(
                carrier,
                context=trace.set_span_in_context(span),
                setter=_SETTER,
            )
        finally:
            span.end()
        return carrier

    def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
        """Start the delivery's consumer span, the child of the job's creation context."""
        if self._off:
            return
        name: str = queue.name
        links: list[Link] | None = None
        parent = None
        if job.headers:
            parent = self._propagator.extract(job.headers, getter=_GETTER)
            creation = trace.get_current_span(parent).get_span_context()
            if creation.is_valid:
                links = [Link(creation)]
            else:
                parent = None
        span = self._tracer.start_span(
            f"process {name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.name": "process",
                "messaging.operation.type": "process",
                "messaging.destination.name": name,
                "messaging.consumer.group.name": group,
                "messaging.message.id": job.id,
                "checkqueue.job.attempts": job.attempts,
            },
            links=links,
        )
        if not span.get_span_context().is_valid:
            return  # a no-op tracer: nothing to make current or to end
        token = otel_context.attach(trace.set_span_in_context(span))
        self._open[id(job), group] = (span, token)

    def delivery_finished(
        self,
        queue: Any,
        group: str,
        job: QueueJob[Any],
        outcome: DeliveryOutcome,
        duration: float,
    ) -> None:
        """End the delivery's consumer span with its outcome."""
        found = self._open.pop((id(job), group), None)
        if found is None:
            return
        span, token = found
        try:
            span.set_attribute("checkqueue.delivery.outcome", outcome)
            if outcome in _ERROR_OUTCOMES:
                span.set_attribute("error.type", outcome)
                span.set_status(Status(StatusCode.ERROR, f"delivery {outcome}"))
        finally:
            otel_context.detach(token)
            span.end()
