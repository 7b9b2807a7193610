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

With no ``tracer_provider`` given, spans go to the global provider. While it is not
set (``opentelemetry.trace.set_tracer_provider`` not called yet), the instrument does
nothing, and looks again at most every 0.25 s: a provider set once jobs are flowing
is used within 0.25 s. On a ``NoOpTracerProvider`` the instrument has no per-job
hook at all: attaching it costs nothing per job.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, Self, cast

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from ._actors.instruments import Instrument

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator

    from ._actors.instruments import DeliveryOutcome
    from ._model import QueueJob

__all__ = ["MESSAGING_SYSTEM", "OpenTelemetryInstrument"]

_logger = logging.getLogger("checkqueue_actors")

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

_RECHECK: Final = 0.25
"""Seconds between two looks at an unset global tracer provider."""


class OpenTelemetryInstrument:
    """Traces enqueues and deliveries (see the module doc).

    Args:
      tracer_provider: Where spans go (``None``: the global tracer provider).
      propagator: How the creation context is written into and read from job headers
        (``None``: the global one, ``OTEL_PROPAGATORS``, W3C trace context and
        baggage by default).
    """

    def __new__(
        cls,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        propagator: TextMapPropagator | None = None,
    ) -> Self:
        if isinstance(tracer_provider, trace.NoOpTracerProvider):
            # nothing can ever be traced: an instrument without per-job hooks
            return cast("Self", object.__new__(_NotTracing))
        return super().__new__(cls)

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
        self._unset = isinstance(self._tracer, trace.ProxyTracer)
        """The global tracer provider, not set yet: hooks return at once (looked at
        again at most every ``_RECHECK`` seconds)."""
        self._recheck_at = 0.0

    def _still_unset(self) -> bool:
        """Whether the global tracer provider is still unset, looked up now (the hooks
        then do nothing until ``_RECHECK`` seconds have passed).

        Reading the global provider costs as much as a short job, so while it is unset
        the hooks only compare the clock with ``_recheck_at`` and call this at most every
        ``_RECHECK`` seconds; once it is set, the API's proxy tracer (``self._tracer``)
        sends spans to it, and it is never looked up again.
        """
        self._recheck_at = monotonic() + _RECHECK
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return True
        self._unset = False
        return False

    def prepare_headers(
        self, queue: Any, job_id: str, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        """Make the job's producer span and return its context as headers."""
        if self._unset and (monotonic() < self._recheck_at or self._still_unset()):
            return None  # no tracer provider yet
        if headers and not self._fields.isdisjoint(headers):
            return None  # it carries a creation context already
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
        if self._unset and (monotonic() < self._recheck_at or self._still_unset()):
            return  # no tracer provider yet
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
        if not self._open:
            return  # no span open (not tracing)
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


class _NotTracing(OpenTelemetryInstrument):
    """``OpenTelemetryInstrument`` on a no-op tracer provider: it has no per-job hook,
    so the runtime calls nothing per job (the hooks inherited from ``Instrument`` are
    never called)."""

    # the protocol's own (do-nothing) methods: the runtime leaves them out
    prepare_headers = cast("Any", Instrument.prepare_headers)
    delivery_started = cast("Any", Instrument.delivery_started)
    delivery_finished = cast("Any", Instrument.delivery_finished)

    def attached(self, queue: Any) -> None:
        """Nothing to trace on ``queue``: said once, at debug level."""
        _logger.debug(
            "queue %r: OpenTelemetryInstrument on a no-op tracer provider traces nothing",
            getattr(queue, "name", "?"),
        )
