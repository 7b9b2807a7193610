"""Prometheus metrics of queues (needs ``prometheus_client``: the ``metrics`` extra).

``PrometheusInstrument`` is an instrument (see ``checkqueue_actors.Instrument``): give
it to ``open_queue_manager(instruments=[...])`` or to a queue's ``instruments=``. It
keeps counters, a histogram and gauges in a ``prometheus_client`` registry:

- ``checkqueue_jobs_enqueued_total{queue}``: jobs stored by this process;
- ``checkqueue_deliveries_total{queue,group,outcome}``: deliveries that ended, by
  outcome (``completed``, ``retrying``, ``failed``, ``timed_out``, ``cancelled``,
  ``released``), every outcome exported at 0 once a group is seen;
- ``checkqueue_delivery_duration_seconds{queue,group}``: handler time (histogram,
  buckets from 5 ms to 2 h: jobs run longer than web requests);
- ``checkqueue_deliveries_running{queue,group}``: handlers running now in this process;
- ``checkqueue_jobs_pending{queue}``: jobs waiting in the queue (every process's),
  from ``Queue.get_stats``.

``get_stats`` is a coroutine (a round trip on Redis) and a scrape is synchronous, so
the pending gauge is read from a cache: ``await instrument.refresh(queues)`` reads every
queue's stats and stores them, and the collector reports what the last refresh saw.
``serve_metrics`` refreshes before every scrape (the worker's ``--metrics-port`` does
that); with another HTTP server, run ``instrument.refresh_every(seconds, queues)`` in a
task. The runtime has no synchronous counters to read instead: a Redis queue's pending
count lives on the server.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from ._actors.instruments import DeliveryOutcome
    from ._model import QueueJob, QueueStats

__all__ = [
    "DURATION_BUCKETS",
    "OUTCOMES",
    "PrometheusInstrument",
    "serve_metrics",
]

logger = logging.getLogger("checkqueue_actors")

DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    math.inf,
)
"""Upper bounds (seconds) of ``checkqueue_delivery_duration_seconds``'s buckets."""

OUTCOMES: Final[tuple[str, ...]] = (
    "completed",
    "retrying",
    "failed",
    "timed_out",
    "cancelled",
    "released",
)
"""Every outcome of a delivery (the ``outcome`` label)."""

_REFRESH_TIMEOUT: Final = 5.0
"""Seconds one queue's ``get_stats`` may take during a refresh (then its value is dropped)."""


class _StatsSource(Protocol):
    """A queue whose pending count can be read (a ``QueueProxy``, any ``Queue``)."""

    @property
    def name(self) -> str: ...

    async def get_stats(self) -> QueueStats: ...


class _GroupSeries:
    """The plain counters of one ``(queue, group)``: updated without a lock on the hot
    path, read by the collector at scrape time."""

    __slots__ = ("counts", "total", "width")

    def __init__(self, buckets: int) -> None:
        self.width = buckets
        self.counts = [0] * (len(OUTCOMES) * buckets)
        """Deliveries by outcome and duration bucket (not cumulative): the counts of
        outcome ``i`` are ``counts[i * width:(i + 1) * width]``. One increment per
        delivery; the outcome totals and the histogram are summed at scrape time."""
        self.total = 0.0
        """The sum of the observed durations."""

    def snapshot(self) -> tuple[dict[str, int], list[int]]:
        """Deliveries by outcome, and observations by bucket (not cumulative), read from
        one copy of the counts (one C call: consistent also while hooks run in
        another thread)."""
        counts = list(self.counts)
        width = self.width
        outcomes = {
            outcome: sum(counts[i * width : (i + 1) * width]) for i, outcome in enumerate(OUTCOMES)
        }
        buckets = [sum(counts[b::width]) for b in range(width)]
        return outcomes, buckets


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(bound)


class _Collector(Collector):
    """Turns the instrument's plain counters into metric families at scrape time."""

    def __init__(self, instrument: PrometheusInstrument) -> None:
        self._instrument = instrument

    def describe(self) -> Iterator[Metric]:
        """The families' names, without samples (the registry refuses duplicates)."""
        yield CounterMetricFamily("checkqueue_jobs_enqueued", "")
        yield CounterMetricFamily("checkqueue_deliveries", "")
        yield HistogramMetricFamily("checkqueue_delivery_duration_seconds", "", unit="seconds")
        yield GaugeMetricFamily("checkqueue_deliveries_running", "")
        yield GaugeMetricFamily("checkqueue_jobs_pending", "")

    def collect(self) -> Iterator[Metric]:
        instrument = self._instrument
        enqueued = CounterMetricFamily(
            "checkqueue_jobs_enqueued", "Jobs stored by this process", labels=["queue"]
        )
        for queue, count in sorted(instrument._enqueued_counts().items()):  # pyright: ignore[reportPrivateUsage]
            enqueued.add_metric([queue], count)
        deliveries = CounterMetricFamily(
            "checkqueue_deliveries",
            "Deliveries that ended, by outcome",
            labels=["queue", "group", "outcome"],
        )
        duration = HistogramMetricFamily(
            "checkqueue_delivery_duration_seconds",
            "Handler time of a delivery",
            labels=["queue", "group"],
            unit="seconds",
        )
        running = GaugeMetricFamily(
            "checkqueue_deliveries_running",
            "Handlers running now in this process",
            labels=["queue", "group"],
        )
        bounds = instrument._bounds  # pyright: ignore[reportPrivateUsage]
        running_now = instrument._running_counts()  # pyright: ignore[reportPrivateUsage]
        for key in running_now:
            if key not in instrument._groups:  # pyright: ignore[reportPrivateUsage]
                instrument._groups[key] = _GroupSeries(len(bounds))  # pyright: ignore[reportPrivateUsage]
        for (queue, group), series in sorted(instrument._groups.items()):  # pyright: ignore[reportPrivateUsage]
            total = series.total  # read first: it may lag the counts, never lead them
            outcomes, observed = series.snapshot()
            for outcome, count in outcomes.items():
                deliveries.add_metric([queue, group, outcome], count)
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(bounds, observed, strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            duration.add_metric([queue, group], buckets, total)
            running.add_metric([queue, group], running_now.get((queue, group), 0))
        pending = GaugeMetricFamily(
            "checkqueue_jobs_pending",
            "Jobs waiting in the queue (ready, delayed or in retry backoff), as of the "
            "last refresh",
            labels=["queue"],
        )
        for queue, count in sorted(instrument._pending.items()):  # pyright: ignore[reportPrivateUsage]
            pending.add_metric([queue], count)
        yield enqueued
        yield deliveries
        yield duration
        yield running
        yield pending


class PrometheusInstrument:
    """Counts enqueues and deliveries for a Prometheus registry (see the module doc).

    The hooks update plain Python counters (no lock, no label lookup through
    prometheus_client on the hot path); a collector registered in ``registry`` turns
    them into metric families at scrape time.

    Args:
      registry: Where the collector is registered (``None``: prometheus_client's
        default ``REGISTRY``; a registry takes one instrument).
      buckets: The duration histogram's bucket bounds, in seconds (``+Inf`` is added
        when missing).
    Raises:
      ValueError: when ``registry`` already has these metrics (a second instrument on
        the default registry, for one), or for buckets that are not increasing.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        if registry is None:
            from prometheus_client import REGISTRY

            registry = REGISTRY
        bounds = [float(b) for b in buckets]
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        if any(a >= b for a, b in itertools.pairwise(bounds)):
            msg = f"buckets must be increasing, not {list(buckets)!r}"
            raise ValueError(msg)
        self._bounds: tuple[float, ...] = tuple(bounds)
        self._search: tuple[float, ...] = tuple(bounds[:-1])
        self._offsets = {outcome: i * len(bounds) for i, outcome in enumerate(OUTCOMES)}
        """Where each outcome's counts start in ``_GroupSeries.counts``."""
        self._first = bounds[0]
        """The first bucket's bound (``le``): a duration at or below it needs no search."""
        self._attached: list[Any] = []
        """The queue objects observed (``attached``), read at scrape time."""
        self._groups: dict[tuple[str, str], _GroupSeries] = {}
        self._by_queue: dict[object, dict[str, _GroupSeries]] = {}
        """queue object -> group -> series: the hooks' lookup (no tuple, no name read)."""
        self._pending: dict[str, int] = {}
        self._queues: dict[str, _StatsSource] = {}
        self.registry: CollectorRegistry = registry
        """The registry holding the metrics (pass it to ``generate_latest``)."""
        registry.register(_Collector(self))

    # -- the instrument's hooks --------------------------------------------------------------

    def attached(self, queue: Any) -> None:
        """Observe ``queue``: its stored jobs and running handlers are read from the
        queue's own counters at scrape time (no hook per job for them)."""
        if queue not in self._attached:
            self._attached.append(queue)
        self._queues[queue.name] = queue

    def _enqueued_counts(self) -> dict[str, int]:
        """Jobs stored, by queue name (queue objects of one name, before and after a
        backend switch, add up)."""
        counts: dict[str, int] = {}
        for queue in list(self._attached):
            name: str = getattr(queue, "name", "?")
            counts[name] = counts.get(name, 0) + int(getattr(queue, "jobs_enqueued", 0))
        return counts

    def _running_counts(self) -> dict[tuple[str, str], int]:
        """Handlers running now, by ``(queue name, group)``."""
        counts: dict[tuple[str, str], int] = {}
        for queue in list(self._attached):
            read = getattr(queue, "running_by_group", None)
            if read is None:
                continue
            name: str = getattr(queue, "name", "?")
            for group, count in read().items():
                counts[name, group] = counts.get((name, group), 0) + count
        return counts

    def _series(self, queue: Any, group: str) -> _GroupSeries:
        name: str = queue.name
        series = self._groups.get((name, group))
        if series is None:
            series = self._groups[name, group] = _GroupSeries(len(self._bounds))
        self._by_queue.setdefault(queue, {})[group] = series
        self._queues[name] = queue
        return series

    def delivery_finished(
        self,
        queue: Any,
        group: str,
        job: QueueJob[Any],
        outcome: DeliveryOutcome,
        duration: float,
    ) -> None:
        """A delivery ended: its outcome counted, its duration observed."""
        try:
            series = self._by_queue[queue][group]
        except KeyError:
            series = self._series(queue, group)
        if duration <= self._first:  # the common case of short jobs, without a search
            series.counts[self._offsets[outcome]] += 1
        else:
            series.counts[self._offsets[outcome] + bisect_left(self._search, duration)] += 1
        series.total += duration

    # -- the pending gauge ---------------------------------------------------------------------

    async def refresh(self, queues: Iterable[_StatsSource] | None = None) -> None:
        """Read the pending count of ``queues`` now, for the next scrapes.

        Args:
          queues: The queues to report (``QueueManager.get_queues()``, for one);
            ``None``: those this instrument has seen enqueue or deliver. A queue whose
            stats cannot be read (unreachable, stopped, over 5 s) is left out until
            a later refresh reads it.
        """
        sources = list(self._queues.values()) if queues is None else list(queues)
        fresh: dict[str, int] = {}
        for source in sources:
            stats: QueueStats | None = None
            with trio.move_on_after(_REFRESH_TIMEOUT):
                try:
                    stats = await source.get_stats()
                except Exception as exc:
                    logger.debug("metrics: cannot read the stats of %r: %r", source.name, exc)
            if stats is not None:
                fresh[source.name] = stats.pending
        self._pending.clear()
        self._pending.update(fresh)

    async def refresh_every(
        self,
        seconds: float,
        queues: Callable[[], Iterable[_StatsSource]] | None = None,
    ) -> None:
        """``refresh`` forever, every ``seconds`` (run it in a task of your nursery).

        Args:
          seconds: The pause between two refreshes.
          queues: Called before each refresh for the queues to read (for instance
            ``manager.get_queues``); ``None``: those seen by the instrument.
        """
        while True:
            await self.refresh(None if queues is None else queues())
            await trio.sleep(seconds)


async def serve_metrics(
    registry: CollectorRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = 9464,
    before_scrape: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``registry`` at ``http://host:port/metrics`` (a small HTTP/1.1 server on trio).

    Use it as ``port = await nursery.start(serve_metrics, registry)``: it returns the
    bound port (useful with ``port=0``) and serves until cancelled. Each scrape first
    awaits ``before_scrape`` (``instrument.refresh`` with the queues to read), then
    renders the registry. Only ``GET`` and ``HEAD`` of ``/metrics`` (any query) are
    answered; a connection that sends no full request within 10 s is dropped.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(10):
                await _answer(stream, registry, before_scrape)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


_MAX_REQUEST: Final = 16_384


async def _answer(
    stream: trio.SocketStream,
    registry: CollectorRegistry,
    before_scrape: Callable[[], Awaitable[None]] | None,
) -> None:
    request = b""
    while b"\r\n\r\n" not in request and b"\n\n" not in request:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return
        request += chunk
        if len(request) > _MAX_REQUEST:
            await _respond(stream, 431, b"request too large\n")
            return
    line = request.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split()
    if len(parts) != 3:
        await _respond(stream, 400, b"bad request\n")
        return
    method, target, _version = parts
    if target.split("?", 1)[0] != "/metrics":
        await _respond(stream, 404, b"not found: try /metrics\n")
        return
    if method not in ("GET", "HEAD"):
        await _respond(stream, 405, b"method not allowed\n", allow="GET, HEAD")
        return
    if before_scrape is not None:
        await before_scrape()
    body = generate_latest(registry)
    await _respond(stream, 200, body, content_type=CONTENT_TYPE_LATEST, head=method == "HEAD")


_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}


async def _respond(
    stream: trio.SocketStream,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    allow: str | None = None,
    head: bool = False,
) -> None:
    headers = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
        "Connection: close",
    ]
    if allow is not None:
        headers.append(f"Allow: {allow}")
    head_bytes = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1")
    await stream.send_all(head_bytes if head else head_bytes + body)
