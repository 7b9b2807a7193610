"""Manager calls that wait for every handler to finish are refused from inside a handler."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueueConfig,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)


async def test_switch_and_shutdown_from_a_handler_raise_at_once(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """set_active_backend and shutdown from a handler raise RuntimeError instead of hanging;
    the manager goes on, on its old backend, and a switch from outside still works."""
    errors: list[BaseException] = []
    done = trio.Event()

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("ops")

            async def handler(job: QueueJob[str]) -> None:
                for call in (
                    lambda: manager.set_active_backend("memory2", None),
                    manager.shutdown,
                ):
                    try:
                        await call()
                    except RuntimeError as exc:
                        errors.append(exc)
                done.set()

            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue("switch")
            await done.wait()
            assert [type(e) for e in errors] == [RuntimeError, RuntimeError]
            assert "set_active_backend() cannot be called from inside a handler of queue 'ops'" in (
                str(errors[0])
            )
            assert "shutdown() cannot be called from inside a handler" in str(errors[1])
            assert manager.get_active_plugin() == "memory"
            result = await manager.set_active_backend("memory2", None)
            assert result.success
            assert manager.get_active_plugin() == "memory2"


async def test_switch_from_a_handler_of_an_unmanaged_queue_is_allowed(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A handler of a queue the manager does not run may switch it (an operations queue)."""
    results: list[Any] = []
    switched = trio.Event()
    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            await manager.get_queue("work").enqueue(1)
            ops = InMemoryQueue[str]("ops", InMemoryQueueConfig())

            async def handler(job: QueueJob[str]) -> None:
                results.append(await manager.set_active_backend(job.data, None))
                switched.set()

            async with ops:
                await ops.consume(handler, consumer_group="g")
                await ops.enqueue("memory2")
                await switched.wait()
            assert results[0].success
            assert manager.get_active_plugin() == "memory2"


async def test_switch_delegate_from_its_own_handler_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """QueueProxy.switch_delegate from a handler of the proxy's queue raises at once."""
    errors: list[BaseException] = []
    refused = trio.Event()
    with trio.fail_after(60):
        async with open_queue_manager(QueuePluginRegistry()) as manager:
            proxy = manager.get_queue("q")
            fresh = InMemoryQueue[Any]("q", InMemoryQueueConfig())

            async def handler(job: QueueJob[int]) -> None:
                with pytest.raises(
                    RuntimeError, match="switch_delegate\\(\\) cannot be called"
                ) as info:
                    await proxy.switch_delegate(fresh)
                errors.append(info.value)
                refused.set()

            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue(1)
            await refused.wait()
