"""The conformance suite through a manager's ``QueueProxy`` (the in-memory backend behind
it): every call a test makes goes through the proxy's delegation.

A proxy's lifetime belongs to its manager, so the suite's queue is ``ManagedQueue``: an
unstarted queue whose ``run`` (or ``async with``) opens a manager with that one queue,
and whose ``stop`` stops the proxy; every other call is the proxy's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, cast

import pytest
import trio

from checkqueue_actors import (
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors.testing import QueueConformanceTests

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from checkqueue_actors import Queue, QueueProxy
    from checkqueue_actors.testing import MakeQueue


class ManagedQueue:
    """The proxy of a queue named ``name`` in a manager opened by ``run``."""

    def __init__(self, name: str, config: InMemoryQueueConfig) -> None:
        self._name = name
        self._config = config
        self._proxy: QueueProxy[Any] | None = None
        self._started = trio.Event()
        self._stopped = trio.Event()
        self._done = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the manager, hand out the proxy, and return once it stopped."""
        if self._started.is_set():
            msg = f"queue {self._name!r} was started already"
            raise RuntimeError(msg)
        registry = QueuePluginRegistry()
        registry.register(InMemoryQueuePlugin())
        config = {
            "concurrency": self._config.concurrency,
            "max_queue_size": self._config.max_queue_size,
            "delay_multiplier": self._config.delay_multiplier,
        }
        try:
            async with open_queue_manager(registry, default_config=config) as manager:
                self._proxy = manager.get_queue(self._name)
                await self._proxy.test_connection()  # the first queue is started
                self._started.set()
                task_status.started()
                await self._stopped.wait()
        finally:
            self._done.set()

    async def __aenter__(self) -> Self:
        nursery_manager = trio.open_nursery()
        self._nursery_manager = nursery_manager
        nursery = await nursery_manager.__aenter__()
        self._nursery = nursery
        await nursery.start(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if exc_type is None:
            await self.stop()
        else:
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()
        assert self._nursery_manager is not None
        try:
            return await self._nursery_manager.__aexit__(exc_type, exc_value, traceback)
        except BaseExceptionGroup as group:
            # as a queue's own ``async with``: the body's exception comes out as itself
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    async def test_connection(self) -> None:
        """Never waits for the start (the in-memory backend always answers)."""
        if self._proxy is None:
            await trio.lowlevel.checkpoint()
            return
        await self._proxy.test_connection()

    async def stop(self, *, grace_period: float | None = None) -> None:
        """Stop the proxy (for good), then the manager."""
        if not self._started.is_set():
            self._stopped.set()
            await trio.lowlevel.checkpoint()
            return
        assert self._proxy is not None
        await self._proxy.stop(grace_period=grace_period)
        self._stopped.set()

    async def _ready(self) -> QueueProxy[Any]:
        await self._started.wait()
        assert self._proxy is not None
        return self._proxy

    def __getattr__(self, name: str) -> Any:
        """Every other method: the proxy's, once the manager runs."""
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            proxy = await self._ready()
            return await getattr(proxy, name)(*args, **kwargs)

        return call


def make_managed_queue(
    name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
) -> Queue[Any]:
    """A fresh managed queue with these settings."""
    config = InMemoryQueueConfig(
        concurrency=concurrency, max_queue_size=max_queue_size, delay_multiplier=delay_multiplier
    )
    return cast("Queue[Any]", ManagedQueue(name, config))


class TestProxyConformance(QueueConformanceTests):
    """The in-memory backend behind a manager's proxy, on an autojump clock."""

    time_mode = "virtual"

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        return make_managed_queue
