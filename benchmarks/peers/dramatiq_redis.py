"""Dramatiq's RedisBroker with a ``Worker`` of ``concurrency`` threads (see dramatiq_stub)."""

from __future__ import annotations

from typing import Any

import dramatiq.brokers.redis  # noqa: F401  # ImportError without dramatiq[redis]

from benchmarks.peers.dramatiq_stub import run_with


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload (see ``benchmarks.peers``)."""
    return run_with(str(params["redis_url"]), workload, params)
