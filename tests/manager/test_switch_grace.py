"""A switch's grace period: a hung handler no longer blocks a switch forever."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    MemoryConfigStore,
    Migration,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors._manager import ACTIVE_KEY

from .conftest import memory_plugin


class _HangsOnce:
    """A handler whose first delivery of each job hangs until cancelled."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.cancelled: list[str] = []
        self.hanging = trio.Event()
        self.done = trio.Event()

    async def __call__(self, job: QueueJob[str]) -> None:
        first = all(job_id != job.id for job_id, _ in self.runs)
        self.runs.append((job.id, job.attempts))
        if not first:
            self.done.set()
            return
        self.hanging.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.append(job.id)
            raise


async def test_a_switch_with_a_grace_period_releases_a_hung_job_and_moves_it(
    registry: QueuePluginRegistry,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hung handler is cancelled after the grace period; its job moves to the new
    backend and runs there (attempts 0); the result and a log line name it."""
    handler = _HangsOnce()
    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue("x", job_id="hung")
            await proxy.enqueue("y", job_id="waiting", start_delay=100)
            await handler.hanging.wait()
            began = trio.current_time()
            with caplog.at_level(logging.WARNING, logger="checkqueue_actors"):
                result = await manager.set_active_backend("memory2", None, grace_period=5)
            assert trio.current_time() - began == pytest.approx(5)
            assert manager.get_active_plugin() == "memory2"
            assert result.success
            assert result.migrated_pending_jobs == 2
            assert any(
                "the grace period (5 s) passed with 1 handler(s) still running" in w
                and "job 'hung' in group 'g'" in w
                for w in result.warnings
            ), result.warnings
            assert not any("finished on the old backend" in w for w in result.warnings)
            assert any(
                "grace period passed with 1 handler(s) running" in r.getMessage()
                and "'hung'" in r.getMessage()
                for r in caplog.records
            )
            with trio.fail_after(10):
                await handler.done.wait()
    assert handler.cancelled == ["hung"]
    assert handler.runs == [("hung", 0), ("hung", 0)]


async def test_the_managers_switch_grace_period_bounds_a_switch_polling_starts(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """open_queue_manager(switch_grace_period=...) applies to a switch that polling starts."""
    store = MemoryConfigStore()
    handler = _HangsOnce()
    with trio.fail_after(600):
        async with open_queue_manager(
            registry, config_store=store, switch_grace_period=3
        ) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue("x", job_id="hung")
            await handler.hanging.wait()
            await store.set("memory2", 1, {})
            await store.set(ACTIVE_KEY, 1, {"plugin_id": "memory2"})
            manager.start_polling(interval_ms=1000)
            with trio.fail_after(30):
                await handler.done.wait()
            assert manager.get_active_plugin() == "memory2"
    assert handler.cancelled == ["hung"]


async def test_without_a_grace_period_a_switch_waits_for_the_handlers(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """grace_period=math.inf (and the default None) let a slow handler finish."""
    finished: list[int] = []
    running = trio.Event()

    async def slow(job: QueueJob[int]) -> None:
        running.set()
        await trio.sleep(500)
        finished.append(job.data)

    with trio.fail_after(6000):
        async with open_queue_manager(registry, switch_grace_period=1) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(slow, consumer_group="g")
            await proxy.enqueue(1)
            await running.wait()
            result = await manager.set_active_backend("memory2", None, grace_period=math.inf)
            assert finished == [1]
            assert result.migrated_pending_jobs == 0


@pytest.mark.parametrize("bad", [-1, math.nan, True, "3"])
async def test_a_bad_grace_period_raises_and_leaves_the_backend_alone(
    registry: QueuePluginRegistry, bad: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """ValueError before anything is touched; the old backend stays active."""
    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("work")
            await proxy.enqueue(1)
            with pytest.raises(ValueError, match="grace_period must be None or a number"):
                await manager.set_active_backend("memory2", None, grace_period=bad)
            assert manager.get_active_plugin() == "memory"
            assert (await proxy.get_stats()).pending == 1
            with pytest.raises(ValueError, match="grace_period must be None or a number"):
                await proxy.stop(grace_period=bad)
            assert (await proxy.get_stats()).pending == 1
    with pytest.raises(ValueError, match="grace_period must be None or a number"):
        async with open_queue_manager(registry, switch_grace_period=bad):
            pass  # pragma: no cover


class _NoGraceQueue:
    """An in-memory queue seen through a wrapper whose stop() takes no grace period."""

    def __init__(self, inner: InMemoryQueue[Any]) -> None:
        self._inner = inner

    async def stop(self) -> None:
        await self._inner.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@attrs.define
class _NoGracePlugin:
    id: str = "nograce"
    display_name: str = "No grace"
    description: str | None = None
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Any:
        return cast("Any", _NoGraceQueue(InMemoryQueue[Any](name, config)))


async def test_an_old_queue_without_a_grace_period_is_waited_for_with_a_warning(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A third-party queue whose stop() takes no grace period: the switch waits, and says so."""
    registry = QueuePluginRegistry()
    registry.register(memory_plugin())
    registry.register(_NoGracePlugin())
    finished: list[int] = []
    running = trio.Event()

    async def slow(job: QueueJob[int]) -> None:
        running.set()
        await trio.sleep(50)
        finished.append(job.data)

    with trio.fail_after(600):
        async with open_queue_manager(registry, default_plugin="nograce") as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(slow, consumer_group="g")
            await proxy.enqueue(1)
            await running.wait()
            result = await manager.set_active_backend("memory", None, grace_period=2)
            assert finished == [1]
            assert any(
                "stop() takes no grace period, so the switch waited" in w and "2 s" in w
                for w in result.warnings
            ), result.warnings
