"""``python -m benchmarks.instruments``: what attaching instruments costs the in-memory backend.

20,000 no-op jobs enqueued one by one while one group of 10 consumers runs them
(scenario 1a's workload; ``--workload drain``: stored first, then drained, scenario
1b's), with

- ``none``: no instrument (the baseline);
- ``empty_hooks``: an instrument whose three hooks do nothing (what the runtime's
  calls cost by themselves: the ``QueueJob`` built for ``job_enqueued``, the clock
  read for the duration);
- ``finished_hook``: an instrument with only ``delivery_finished``, doing nothing (the
  floor of any instrument that times deliveries: one call and two clock reads per
  delivery);
- ``prometheus``: ``PrometheusInstrument`` on its own registry;
- ``otel_noop``: ``OpenTelemetryInstrument`` on the API's no-op tracer provider;
- ``otel_unset``: ``OpenTelemetryInstrument()`` with no tracer provider configured
  (the API's global proxy: what an application gets with the extra installed and no
  SDK set up);
- ``otel_sdk_1pct``: ``OpenTelemetryInstrument`` on an SDK ``TracerProvider`` sampling
  1% of traces (``ParentBased(TraceIdRatioBased(0.01))``), spans to an
  ``InMemorySpanExporter`` through a ``SimpleSpanProcessor``;
- ``otel_sdk``: the same, every trace sampled (the SDK's default);
- ``both``: ``prometheus`` and ``otel_sdk``.

Each of ``--processes`` fresh processes imports what every setup needs, then runs
``--rounds`` rounds; a round measures every setup once, in an order rotated round by
round. A setup's cost is the median, over every round of every process, of its
throughput divided by ``none``'s in the same round: the ratio of two runs a fraction
of a second apart in one process, which the drift of a shared machine's speed and the
luck of one process's memory layout (either moves single figures by 10-20% here) do
not reach. The best figure of each setup is printed too, with its ratio to the best
``none``: noise on a shared machine only ever slows a run down, so over many runs the
best approaches the undisturbed speed (``timeit``'s reasoning for its minimum). Prints
one table row per setup.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import trio
import trio.lowlevel

SETUPS = (
    "none",
    "empty_hooks",
    "finished_hook",
    "prometheus",
    "otel_noop",
    "otel_unset",
    "otel_sdk_1pct",
    "otel_sdk",
    "both",
)


class _EmptyHooks:
    """Every hook, doing nothing."""

    def job_enqueued(self, queue: Any, job: Any) -> None:
        pass

    def delivery_started(self, queue: Any, group: str, job: Any) -> None:
        pass

    def delivery_finished(
        self, queue: Any, group: str, job: Any, outcome: str, duration: float
    ) -> None:
        pass


class _FinishedHook:
    """Only ``delivery_finished``, doing nothing."""

    def delivery_finished(
        self, queue: Any, group: str, job: Any, outcome: str, duration: float
    ) -> None:
        pass


def _instruments(setup: str) -> list[object]:
    found: list[object] = []
    if setup == "empty_hooks":
        found.append(_EmptyHooks())
    if setup == "finished_hook":
        found.append(_FinishedHook())
    if setup in ("prometheus", "both"):
        from prometheus_client import CollectorRegistry

        from checkqueue_actors.metrics import PrometheusInstrument

        found.append(PrometheusInstrument(CollectorRegistry()))
    if setup == "otel_noop":
        from opentelemetry.trace import NoOpTracerProvider

        from checkqueue_actors.tracing import OpenTelemetryInstrument

        found.append(OpenTelemetryInstrument(NoOpTracerProvider()))
    if setup == "otel_unset":
        from checkqueue_actors.tracing import OpenTelemetryInstrument

        found.append(OpenTelemetryInstrument())
    if setup in ("otel_sdk", "otel_sdk_1pct", "both"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        from checkqueue_actors.tracing import OpenTelemetryInstrument

        # not kept alive by an exit hook: its spans go with it after the run
        provider = (
            TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.01)), shutdown_on_exit=False)
            if setup == "otel_sdk_1pct"
            else TracerProvider(shutdown_on_exit=False)
        )
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        found.append(OpenTelemetryInstrument(provider))
    return found


async def _run(setup: str, n: int, workload: str) -> float:
    """Jobs per second of ``n`` no-op jobs, one group of 10 consumers: enqueued one by
    one while consumed (``live``, scenario 1a), or stored first, then drained
    (``drain``, scenario 1b)."""
    from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob

    done = trio.Event()
    count = 0

    async def handler(job: QueueJob[Any]) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    async def enqueue_all() -> None:
        for i in range(n):
            await queue.enqueue(i)

    config = InMemoryQueueConfig(concurrency=10, max_queue_size=n)
    queue: InMemoryQueue[int] = InMemoryQueue("bench", config, instruments=_instruments(setup))
    async with queue:
        if workload == "drain":
            await enqueue_all()
            t0 = time.perf_counter()
            await queue.consume(handler, consumer_group="bench")
        else:
            await queue.consume(handler, consumer_group="bench")
            await trio.lowlevel.checkpoint()
            t0 = time.perf_counter()
            await enqueue_all()
        await done.wait()
        return n / (time.perf_counter() - t0)


def _rounds(
    setups: list[str], n: int, rounds: int, workload: str = "live"
) -> dict[str, list[float]]:
    """In this process: ``rounds`` rounds of every setup (order rotated each round)."""
    for setup in setups:
        _instruments(setup)  # every import done before the first measurement
    figures: dict[str, list[float]] = {s: [] for s in setups}
    for r in range(rounds):
        k = r % len(setups)
        for setup in setups[k:] + setups[:k]:
            gc.collect()  # every run starts from a collected heap (no earlier run's garbage)
            figures[setup].append(trio.run(_run, setup, n, workload))
    return figures


def _process(setups: list[str], n: int, rounds: int, workload: str) -> dict[str, list[float]]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.instruments",
            "--worker",
            "--setups",
            ",".join(setups),
            "--jobs",
            str(n),
            "--rounds",
            str(rounds),
            "--workload",
            workload,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, list[float]] = json.loads(out)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the rows; print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instruments", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument(
        "--workload",
        choices=("live", "drain"),
        default="live",
        help="live: enqueued one by one while consumed (1a); drain: a backlog (1b)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setups = [s for s in args.setups.split(",") if s]
    unknown = sorted(set(setups) - set(SETUPS))
    if unknown:
        parser.error(f"unknown setups: {', '.join(unknown)} (known: {', '.join(SETUPS)})")
    if "none" not in setups:
        setups.insert(0, "none")  # the baseline of every ratio
    if args.worker:
        print(json.dumps(_rounds(setups, args.jobs, args.rounds, args.workload)))
        return 0
    figures: dict[str, list[float]] = {s: [] for s in setups}
    for _ in range(args.processes):
        for setup, values in _process(setups, args.jobs, args.rounds, args.workload).items():
            figures[setup].extend(values)
    base = figures["none"]
    count = len(base)
    best = max(base)
    print(
        f"| setup | jobs_per_s (median of {count}) | ratio to none (median of {count} "
        f"paired) | cost | best jobs_per_s | best to best | cost (best) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for setup, values in figures.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        top = max(values) / best
        print(
            f"| {setup} | {statistics.median(values):,.0f} | {ratio:.3f} "
            f"| {(1 - ratio) * 100:.1f}% | {max(values):,.0f} | {top:.3f} "
            f"| {(1 - top) * 100:.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
