"""Timeouts and headers through the proxy and a backend switch (in-memory to in-memory)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from checkqueue_actors import PendingJob, QueueJob, QueuePluginRegistry, open_queue_manager
from checkqueue_actors._migration import EnqueuePending, plan_migration
from checkqueue_actors._model import NO_HEADERS
from checkqueue_actors._state.policy import check_headers


async def test_a_switch_keeps_pending_jobs_headers_and_timeouts_and_group_timeouts(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A pending job moved by a switch keeps its headers and its own timeout, and the
    replayed consumer keeps its group's timeout."""
    seen: list[tuple[str, dict[str, str], float]] = []

    async def handler(job: QueueJob[float]) -> None:
        started = trio.current_time()
        try:
            await trio.sleep(job.data)
        finally:
            seen.append((job.id, dict(job.headers), round(trio.current_time() - started, 6)))

    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(handler, consumer_group="g", max_retries=0, timeout=2.0)
            await proxy.enqueue(50.0, job_id="own", start_delay=10, timeout=5, headers={"k": "v"})
            await proxy.enqueue(50.0, job_id="group", start_delay=10, headers={"n": "1"})
            result = await manager.set_active_backend("memory2", {})
            assert result.success
            assert result.migrated_pending_jobs == 2
            await trio.sleep(100)
    assert sorted(seen) == [
        ("group", {"n": "1"}, 2.0),
        ("own", {"k": "v"}, 5.0),
    ]


async def test_the_proxy_checks_timeouts_and_headers(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Bad values are refused by the proxy too, and nothing is stored."""

    async def handler(job: QueueJob[Any]) -> None:
        await trio.lowlevel.checkpoint()

    async with open_queue_manager(registry) as manager:
        proxy = manager.get_queue("q")
        with pytest.raises(ValueError, match="timeout"):
            await proxy.enqueue(1, timeout=0)
        with pytest.raises(TypeError):
            await proxy.enqueue(1, headers={"a": 1})  # type: ignore[dict-item]  # on purpose
        with pytest.raises(ValueError, match="timeout"):
            await proxy.consume(handler, consumer_group="g", timeout=-1)
        assert (await proxy.get_stats()).pending == 0


def test_the_plan_carries_headers_and_timeouts() -> None:
    """``plan_migration`` puts a pending job's headers and timeout in its operation."""
    from datetime import UTC, datetime

    now = datetime(2024, 1, 1, tzinfo=UTC)
    jobs = [
        PendingJob("a", 1, 0, now, 0.0, headers=check_headers({"x": "y"}), timeout=1.5),
        PendingJob("b", 2, 0, now, 0.0),
    ]
    plan = plan_migration("q", pending=jobs, now=now, delay_multiplier=1.0)
    operations = [op for move in plan.moves for op in move.operations]
    assert all(isinstance(op, EnqueuePending) for op in operations)
    pending = [op for op in operations if isinstance(op, EnqueuePending)]
    assert [(op.job_id, dict(op.headers), op.timeout) for op in pending] == [
        ("a", {"x": "y"}, 1.5),
        ("b", {}, None),
    ]
    assert pending[1].headers == NO_HEADERS
