"""The proxy's life cycle around a switch: stop() at any point is for good."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    Migration,
    PendingJob,
    QueueJob,
    QueuePluginRegistry,
    QueueStoppedError,
    open_queue_manager,
)

if TYPE_CHECKING:
    from checkqueue_actors import Queue

    from .conftest import SecondMemoryPlugin


class _HeldExportQueue:
    """An in-memory queue whose ``export_pending`` waits until the test lets it go on."""

    def __init__(self, inner: InMemoryQueue[Any], release: trio.Event) -> None:
        self._inner = inner
        self._release = release

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def export_pending(self) -> list[PendingJob[Any]]:
        await self._release.wait()
        return await self._inner.export_pending()


@attrs.define
class HeldExportPlugin:
    """In-memory queues whose export holds a switch in its move phase until released."""

    id: str = "held"
    display_name: str = "Held export"
    description: str | None = None
    config_version: int = 1
    config_type: type[InMemoryQueueConfig] = InMemoryQueueConfig
    migrations: Sequence[Migration] = ()
    release_export: trio.Event = attrs.field(factory=trio.Event)

    def create_queue(self, name: str, config: InMemoryQueueConfig) -> Queue[Any]:
        inner = InMemoryQueue[Any](name, config)
        return cast("Queue[Any]", _HeldExportQueue(inner, self.release_export))


async def test_a_proxy_stopped_while_its_old_queue_drains_refuses_calls_at_once(
    registry: QueuePluginRegistry,
    second_plugin: SecondMemoryPlugin,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop() during the drain: once the drain ends, calls raise at once instead of waiting
    for the jobs to move; the switch still moves them to the new queue and stops that one,
    whose reads then answer."""
    held = HeldExportPlugin()
    registry.register(held)
    release_handler = trio.Event()

    async def blocker(job: QueueJob[str]) -> None:
        await release_handler.wait()

    with trio.fail_after(60):
        async with open_queue_manager(registry, default_plugin="held") as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(blocker, consumer_group="g")
            await proxy.enqueue("running")
            await proxy.enqueue("waiting", job_id="waiting", start_delay=100)
            await trio.sleep(1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(manager.set_active_backend, "memory2", dict[str, Any]())
                await trio.testing.wait_all_tasks_blocked()  # the old queue drains
                nursery.start_soon(proxy.stop)  # graceful: waits for the running handler
                await trio.testing.wait_all_tasks_blocked()
                release_handler.set()
                await trio.testing.wait_all_tasks_blocked()  # the switch waits on the export
                t0 = trio.current_time()
                # (the switch is shielded: release the export even if the call waits)
                with trio.move_on_after(5) as waited, pytest.raises(QueueStoppedError):
                    await proxy.enqueue("refused")
                held.release_export.set()
                assert not waited.cancelled_caught
                assert trio.current_time() == t0  # did not wait for the switch
            assert manager.get_active_plugin() == "memory2"
            assert second_plugin.created == ["checkqueue-connection-test", "q"]
            with pytest.raises(QueueStoppedError):
                await proxy.enqueue("still refused")
            assert [job.id for job in await proxy.export_pending()] == ["waiting"]


async def test_current_queue_of_follows_the_switch(
    registry: QueuePluginRegistry, second_plugin: SecondMemoryPlugin
) -> None:
    """QueueProxy.current_queue_of: the backend queue the proxy runs on now (what a
    dashboard reads counters from), a new one after a switch; a plain queue is itself."""
    from checkqueue_actors import QueueProxy

    async with open_queue_manager(registry) as manager:
        proxy = manager.get_queue("q")
        await proxy.enqueue("x")
        first: object = QueueProxy.current_queue_of(proxy)
        assert QueueProxy.current_queue_of(first) is first  # not a proxy: itself
        assert type(first) is InMemoryQueue
        await manager.set_active_backend(second_plugin.id, InMemoryQueueConfig())
        second: object = QueueProxy.current_queue_of(proxy)
        assert type(second) is InMemoryQueue
        assert second is not first
