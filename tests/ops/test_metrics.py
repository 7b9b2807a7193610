"""PrometheusInstrument's series, read over HTTP from ``serve_metrics`` and from a worker."""

from __future__ import annotations

import signal
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob
from checkqueue_actors.metrics import PrometheusInstrument, serve_metrics
from checkqueue_actors.testing import drain

from ._process import Worker

if TYPE_CHECKING:
    from pathlib import Path

    from checkqueue_actors._actors.instruments import DeliveryOutcome


async def _get(port: int, target: str = "/metrics", method: str = "GET") -> tuple[str, str]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = b""
        while chunk := await stream.receive_some(65536):
            response += chunk
    head, _, body = response.decode().partition("\r\n\r\n")
    return head, body


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_scraped_series_follow_the_deliveries() -> None:
    """Enqueued, outcomes, durations, running and pending, as the text parser reads them."""
    registry = CollectorRegistry()
    instrument = PrometheusInstrument(registry)
    queue: InMemoryQueue[str] = InMemoryQueue(
        "mail", InMemoryQueueConfig(concurrency=2), instruments=[instrument]
    )
    release = trio.Event()

    async def handler(job: QueueJob[str]) -> None:
        if job.data == "bad":
            raise ValueError("no")
        if job.data == "slow":
            await release.wait()

    async with queue, trio.open_nursery() as nursery:
        port = await nursery.start(
            partial(
                serve_metrics, registry, port=0, before_scrape=partial(instrument.refresh, [queue])
            )
        )
        await queue.consume(handler, consumer_group="send", max_retries=0)
        for data in ("ok", "ok", "bad"):
            await queue.enqueue(data)
        await drain(queue)
        await queue.enqueue("slow")
        await queue.enqueue("later", start_delay=3600)
        await trio.testing.wait_all_tasks_blocked()
        head, body = await _get(port)
        assert head.startswith("HTTP/1.1 200 OK")
        assert "text/plain; version=" in head
        samples = _samples(body)
        send = (("group", "send"), ("queue", "mail"))
        assert samples["checkqueue_jobs_enqueued_total", (("queue", "mail"),)] == 5
        assert (
            samples["checkqueue_deliveries_total", (*send[:1], ("outcome", "completed"), send[1])]
            == 2
        )
        assert (
            samples["checkqueue_deliveries_total", (*send[:1], ("outcome", "failed"), send[1])] == 1
        )
        assert (
            samples["checkqueue_deliveries_total", (*send[:1], ("outcome", "timed_out"), send[1])]
            == 0
        )
        assert samples["checkqueue_delivery_duration_seconds_count", send] == 3
        assert samples["checkqueue_deliveries_running", send] == 1
        assert samples["checkqueue_jobs_pending", (("queue", "mail"),)] == 1
        release.set()
        head, _ = await _get(port, "/other")
        assert head.startswith("HTTP/1.1 404")
        head, _ = await _get(port, "/metrics", method="POST")
        assert head.startswith("HTTP/1.1 405")
        head, body = await _get(port, "/metrics?x=1", method="HEAD")
        assert head.startswith("HTTP/1.1 200")
        assert body == ""
        nursery.cancel_scope.cancel()


async def test_a_queue_whose_stats_fail_is_left_out() -> None:
    """A refresh that cannot read a queue drops its pending series until it can."""
    registry = CollectorRegistry()
    instrument = PrometheusInstrument(registry)

    class Broken:
        name = "gone"

        async def get_stats(self) -> Any:
            raise OSError("unreachable")

    await instrument.refresh([Broken()])
    assert registry.get_sample_value("checkqueue_jobs_pending", {"queue": "gone"}) is None


def test_two_instruments_cannot_share_a_registry() -> None:
    """The second registration of the same names is refused."""
    registry = CollectorRegistry()
    PrometheusInstrument(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusInstrument(registry)


def test_the_worker_serves_its_metrics(tmp_path: Path) -> None:
    """``worker --metrics-port 0`` logs its address; a scrape parses and counts the jobs."""
    worker = Worker(
        tmp_path,
        "metrics",
        "tests.ops.worker_app:setup",
        "--backend",
        "memory",
        "--metrics-port",
        "0",
        env={"CQ_ENQUEUE": "7"},
    )
    try:
        worker.start()
        assert worker.wait_log("worker started"), worker.stderr
        url = worker.stderr.split("metrics at ")[1].split()[0]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        _, body = trio.run(_get, port)
        samples = _samples(body)
        assert samples["checkqueue_jobs_enqueued_total", (("queue", "jobs"),)] == 7
        assert ("process_cpu_seconds_total", ()) in samples  # the default registry's
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.stderr
    finally:
        worker.kill()


def test_durations_fall_in_their_buckets_and_outcomes_are_counted() -> None:
    """Bucket bounds are inclusive (``le``), the first bucket included; every outcome is
    counted apart; the histogram's count and sum cover every delivery."""
    registry = CollectorRegistry()
    instrument = PrometheusInstrument(registry, buckets=[0.005, 0.1, 1.0])

    class _Queue:
        name = "q"

    queue: Any = _Queue()
    job: Any = None
    for outcome, duration in [
        ("completed", 0.0),
        ("completed", 0.005),  # on the first bound: in it
        ("failed", 0.0050001),
        ("retrying", 0.1),
        ("completed", 0.5),
        ("timed_out", 1.0),
        ("cancelled", 7.0),  # only in +Inf
        ("released", 0.001),
    ]:
        instrument.delivery_finished(queue, "g", job, cast("DeliveryOutcome", outcome), duration)
    samples = _samples(generate_latest(registry).decode())
    g = (("group", "g"), ("queue", "q"))
    outcomes = {
        labels[1][1]: value
        for (name, labels), value in samples.items()
        if name == "checkqueue_deliveries_total"
    }
    assert outcomes == {
        "completed": 3,
        "retrying": 1,
        "failed": 1,
        "timed_out": 1,
        "cancelled": 1,
        "released": 1,
    }
    buckets = {
        labels[1][1]: value
        for (name, labels), value in samples.items()
        if name == "checkqueue_delivery_duration_seconds_bucket"
    }
    assert buckets == {"0.005": 3, "0.1": 5, "1.0": 7, "+Inf": 8}
    assert samples["checkqueue_delivery_duration_seconds_count", g] == 8
    assert samples["checkqueue_delivery_duration_seconds_sum", g] == pytest.approx(8.6110001)
