"""The runtime's path for storages that do I/O, checked on a virtual clock.

The in-memory storage seen only through the asynchronous storage protocol (its
synchronous ``*_nowait`` methods hidden) makes the runtime take the path a
networked storage takes: pipelined claims (``claim_depth`` 2) read by a second
task, outcomes riding on claims, the outcome writer. The whole conformance suite
and the state machine run against it in virtual time, so that path is checked
exactly, without a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from checkqueue_actors import InMemoryQueueConfig
from checkqueue_actors._actors.queue import RuntimeQueue
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors.testing import BulkEnqueueConformance, QueueConformanceTests
from checkqueue_actors.testing.stateful import QueueStateMachine

if TYPE_CHECKING:
    from checkqueue_actors import Queue
    from checkqueue_actors.testing import MakeQueue

T = TypeVar("T")


class AsyncOnlyStorage:
    """A ``MemoryStorage`` that shows only the asynchronous protocol, with depth 2."""

    claim_depth = 2

    def __init__(self, inner: MemoryStorage) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_nowait"):
            raise AttributeError(name)  # the runtime takes the I/O path
        return getattr(self._inner, name)


class IoPathQueue(RuntimeQueue[T]):
    """The runtime over ``AsyncOnlyStorage``."""

    def __init__(self, name: str, config: InMemoryQueueConfig) -> None:
        super().__init__(
            name,
            AsyncOnlyStorage(MemoryStorage(name, config)),  # pyright: ignore[reportArgumentType]  # structural, through __getattr__
            concurrency=config.concurrency,
            delay_multiplier=config.delay_multiplier,
        )


def make_io_path_queue(
    name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
) -> Queue[Any]:
    """A fresh queue on the I/O path with these settings."""
    config = InMemoryQueueConfig(
        concurrency=concurrency, max_queue_size=max_queue_size, delay_multiplier=delay_multiplier
    )
    return IoPathQueue[Any](name, config)


def test_the_runtime_takes_the_io_path() -> None:
    """The storage is not seen as in-process (no synchronous methods)."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig())
    assert queue.local is None
    assert queue.writer is not None


class TestIoPathConformance(BulkEnqueueConformance, QueueConformanceTests):
    """Every rule, on the I/O path, on an autojump clock (virtual mode: exact times)."""

    time_mode = "virtual"

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        return make_io_path_queue


class IoPathMachine(QueueStateMachine):
    """The state machine on the I/O path."""

    time_mode = "virtual"

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        return make_io_path_queue(
            name,
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )


TestIoPathMachine = IoPathMachine.TestCase
