"""Job control through the proxy: a switch carries the pause state over, and no paused
group starts a delivery on the new backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing

from checkqueue_actors import QueueJob, QueuePluginRegistry, open_queue_manager

if TYPE_CHECKING:
    from checkqueue_actors._protocols import Handler


async def test_a_switch_carries_group_and_queue_pauses_over(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Paused groups stay paused on the new backend (their jobs move, none runs); a
    resume there lets them run."""
    ran: list[tuple[str, int]] = []

    def handler_of(group: str) -> Handler[int]:
        async def handler(job: QueueJob[int]) -> None:
            ran.append((group, job.data))

        return handler

    async with open_queue_manager(registry) as manager:
        proxy = manager.get_queue("q")
        await proxy.consume(handler_of("a"), consumer_group="a", max_retries=0)
        await proxy.consume(handler_of("b"), consumer_group="b", max_retries=0)
        await proxy.pause("a")
        await proxy.enqueue(1)
        await trio.sleep(1)
        assert ran == [("b", 1)]
        result = await manager.set_active_backend("memory2", {})
        assert result.success, result.warnings
        assert result.migrated_pending_jobs == 1
        assert await proxy.is_paused("a")
        assert not await proxy.is_paused("b")
        await proxy.enqueue(2)
        await trio.sleep(1)
        assert ran == [("b", 1), ("b", 2)]
        waiting = await proxy.list_jobs(state="waiting", consumer_group="a")
        assert [info.data for info in waiting] == [1, 2]

        await proxy.pause()
        result = await manager.set_active_backend("memory", {})
        assert result.success, result.warnings
        assert await proxy.is_paused()
        await proxy.enqueue(3)
        await trio.sleep(1)
        assert ran == [("b", 1), ("b", 2)]
        await proxy.resume()
        await trio.sleep(1)
    assert sorted(ran) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)]


async def test_the_proxy_cancels_and_inspects_jobs(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """``get_job``, ``list_jobs`` and ``cancel_job`` reach the active queue."""
    cancelled: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            cancelled.append(job.data)
            raise

    async with open_queue_manager(registry) as manager:
        proxy = manager.get_queue("q")
        await proxy.consume(handler, consumer_group="g", max_retries=0)
        running = await proxy.enqueue(1)
        later = await proxy.enqueue(2, start_delay=50)
        await trio.sleep(1)
        info = await proxy.get_job(running)
        assert info is not None
        assert info.groups["g"].state == "running"
        assert [i.id for i in await proxy.list_jobs()] == [running, later]
        assert await proxy.cancel_job(running)
        assert await proxy.cancel_job(later)
        await trio.sleep(1)
        assert await proxy.list_jobs() == []
    assert cancelled == [1]
