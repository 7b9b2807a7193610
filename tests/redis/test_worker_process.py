"""``python -m checkqueue_actors worker`` against a private redis-server, as a process.

Every process is bounded in time and killed at the end of its test; the ledgers the
handlers write (``tests.ops.worker_app``) tell what ran where and what finished.
"""

from __future__ import annotations

import collections
import json
import signal
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors.redis import RedisQueue, RedisQueueConfig
from tests.ops._process import Worker, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ._server import RedisServer

pytestmark = pytest.mark.redis


class Setup:
    """The test's server, key prefix and worker processes (all killed at the end)."""

    def __init__(self, server: RedisServer, directory: Path) -> None:
        self.server = server
        self.dir = directory
        self.prefix = f"w{uuid.uuid4().hex[:8]}"
        self.ledger = directory / "ledger"
        self.workers: list[Worker] = []

    def worker(self, *args: str, work_seconds: float, name: str | None = None) -> Worker:
        """Start a worker of ``tests.ops.worker_app:setup`` on the test server."""
        worker = Worker(
            self.dir,
            name or f"worker-{len(self.workers)}",
            "tests.ops.worker_app:setup",
            "--url",
            self.server.url,
            "--key-prefix",
            self.prefix,
            *args,
            env={"CQ_LEDGER": str(self.ledger), "CQ_WORK_SECONDS": str(work_seconds)},
        )
        self.workers.append(worker)
        worker.start()
        assert worker.wait_log("worker started"), worker.stderr
        return worker

    def config(self) -> RedisQueueConfig:
        return RedisQueueConfig(url=self.server.url, key_prefix=self.prefix)

    def enqueue(self, n: int) -> list[str]:
        """Enqueue ``n`` jobs on queue ``jobs``; their ids."""
        ids = [f"job-{i}" for i in range(n)]

        async def run() -> None:
            async with RedisQueue[Any]("jobs", self.config()) as queue:
                await queue.enqueue_many([{"n": i} for i in range(n)], job_ids=ids)

        trio.run(run)
        return ids

    def pending(self) -> int:
        async def run() -> int:
            async with RedisQueue[Any]("jobs", self.config()) as queue:
                return (await queue.get_stats()).pending

        return trio.run(run)

    def events(self, kind: str) -> list[tuple[str, int]]:
        """``(job id, pid)`` of every ledger line of ``kind`` (start or done)."""
        if not self.ledger.exists():
            return []
        found: list[tuple[str, int]] = []
        for line in self.ledger.read_text(encoding="utf-8").splitlines():
            what, job_id, pid = line.split()
            if what == kind:
                found.append((job_id, int(pid)))
        return found

    def kill_all(self) -> None:
        for worker in self.workers:
            worker.kill()


@pytest.fixture
def setup(redis_server: RedisServer, tmp_path: Path) -> Iterator[Setup]:
    s = Setup(redis_server, tmp_path)
    try:
        yield s
    finally:
        s.kill_all()


def test_sigterm_lets_20_running_jobs_finish(setup: Setup) -> None:
    """SIGTERM while 20 handlers run: each finishes, the worker says so and exits 0."""
    worker = setup.worker("--concurrency", "20", "--grace-period", "60", work_seconds=2.0)
    ids = setup.enqueue(20)
    assert wait_for(lambda: len(setup.events("start")) == 20, 30), worker.stderr
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.stderr
    assert sorted(job for job, _ in setup.events("done")) == sorted(ids)
    assert "20 handler(s) were running at the stop; 20 finished (completed 20), 0 released" in (
        worker.stderr
    )
    assert setup.pending() == 0


def test_the_grace_period_releases_jobs_to_another_worker(setup: Setup) -> None:
    """With a 1 s grace period, 10 s jobs are released at SIGTERM; a second worker
    runs them; no job runs to completion twice."""
    first = setup.worker(
        "--concurrency", "10", "--grace-period", "1", work_seconds=10.0, name="first"
    )
    ids = setup.enqueue(10)
    assert wait_for(lambda: len(setup.events("start")) == 10, 30), first.stderr
    second = setup.worker("--concurrency", "10", work_seconds=0.2, name="second")
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.stderr
    assert "10 handler(s) were running at the stop; 0 finished (none), 10 released" in (
        first.stderr
    )
    assert second.proc is not None
    assert wait_for(lambda: len(setup.events("done")) == 10, 30), second.stderr
    done = setup.events("done")
    assert collections.Counter(job for job, _ in done) == dict.fromkeys(ids, 1)
    assert {pid for _, pid in done} == {second.proc.pid}
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.stderr


def test_a_second_sigint_stops_at_once(setup: Setup) -> None:
    """SIGINT, then SIGINT again: running handlers are cancelled, their jobs released
    (pending again), and the worker exits 1 long before the jobs could have ended."""
    worker = setup.worker("--concurrency", "5", work_seconds=600.0)
    setup.enqueue(5)
    assert wait_for(lambda: len(setup.events("start")) == 5, 30), worker.stderr
    worker.signal(signal.SIGINT)
    assert worker.wait_log("SIGINT received: stopping"), worker.stderr
    worker.signal(signal.SIGINT)
    assert worker.wait(30) == 1, worker.stderr
    assert "SIGINT received again: stopping at once" in worker.stderr
    assert "5 released" in worker.stderr
    assert "Traceback" not in worker.stderr
    assert setup.events("done") == []
    assert setup.pending() == 5


def test_json_logs_are_one_object_per_line(setup: Setup) -> None:
    """``--log-format json``: every line parses; the start line names queues and groups."""
    worker = setup.worker("--log-format", "json", work_seconds=0.0)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.stderr
    lines = [json.loads(line) for line in worker.stderr.splitlines()]
    started = next(line for line in lines if line.get("event") == "started")
    assert started["queues"] == {"jobs": {"workers": 1}}
    assert started["backend"] == "redis"
    assert lines[-1]["event"] == "stopped"
    assert started["concurrency"] == 10


def test_a_consumer_span_in_the_worker_is_the_child_of_the_producer_span(
    setup: Setup,
) -> None:
    """The producer's span context travels in the job's headers through Redis: the
    worker's ``process jobs`` span has the producer's trace id and span as parent."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from checkqueue_actors.tracing import OpenTelemetryInstrument

    spans_file = setup.dir / "spans.jsonl"
    worker = Worker(
        setup.dir,
        "traced",
        "tests.ops.worker_app:setup",
        "--url",
        setup.server.url,
        "--key-prefix",
        setup.prefix,
        "--instrument",
        "tests.ops.worker_app:tracing_instrument",
        env={"CQ_SPANS": str(spans_file), "CQ_LEDGER": str(setup.ledger)},
    )
    setup.workers.append(worker)
    worker.start()
    assert worker.wait_log("worker started"), worker.stderr

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def produce() -> None:
        queue = RedisQueue[Any](
            "jobs", setup.config(), instruments=[OpenTelemetryInstrument(provider)]
        )
        async with queue:
            await queue.enqueue({"n": 1}, job_id="traced-job")

    trio.run(produce)
    [producer] = exporter.get_finished_spans()
    assert producer.name == "create jobs"
    assert wait_for(lambda: spans_file.exists() and spans_file.read_text() != "", 30), worker.stderr
    [consumer] = [json.loads(line) for line in spans_file.read_text().splitlines()]
    context = producer.get_span_context()
    assert context is not None
    assert consumer["name"] == "process jobs"
    assert consumer["kind"] == "CONSUMER"
    assert consumer["trace_id"] == format(context.trace_id, "032x")
    assert consumer["parent_span_id"] == format(context.span_id, "016x")
    assert consumer["attributes"]["messaging.message.id"] == "traced-job"
    assert consumer["attributes"]["messaging.consumer.group.name"] == "workers"
    assert consumer["status"] == "UNSET"
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.stderr
