"""pytest fixtures for applications that test their handlers against a real queue.

Enable it in your ``conftest.py``::

    pytest_plugins = ["checkqueue_actors.testing.pytest_plugin"]

Fixtures:

- ``memory_queue``: a started ``InMemoryQueue`` (stopped after the test), built from
  the ``memory_queue_config`` fixture (override it for other settings).
- ``recording_handler``: a fresh ``RecordingHandler``.

A test that uses ``memory_queue`` runs on an autojump ``MockClock`` (virtual time:
delays, backoff and intervals cost nothing) unless it asks for another clock
fixture itself; the plugin adds ``pytest.mark.trio(run=...)`` to such tests, so
they run under pytest-trio whether or not ``trio_mode`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from .._backends.memory import InMemoryQueue, InMemoryQueueConfig
from ._recording import RecordingHandler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = [
    "memory_queue",
    "memory_queue_config",
    "pytest_collection_modifyitems",
    "recording_handler",
]


def run_on_autojump_clock(
    fn: Callable[[], Any], *, clock: trio.abc.Clock | None = None, **kwargs: Any
) -> Any:
    """``trio.run`` that defaults to ``MockClock(autojump_threshold=0)``."""
    if clock is None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, clock=clock, **kwargs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests that use ``memory_queue`` on an autojump clock."""
    for item in items:
        if "memory_queue" not in getattr(item, "fixturenames", ()):
            continue
        if any(m.kwargs.get("run") is not None for m in item.iter_markers("trio")):
            continue
        item.add_marker(pytest.mark.trio(run=run_on_autojump_clock))


@pytest.fixture
def memory_queue_config() -> InMemoryQueueConfig:
    """Settings of ``memory_queue``: the defaults (override this fixture to change them)."""
    return InMemoryQueueConfig()


@pytest.fixture
async def memory_queue(
    memory_queue_config: InMemoryQueueConfig,
) -> AsyncIterator[InMemoryQueue[Any]]:
    """A started in-memory queue named ``"test"``; stopped gracefully after the test."""
    async with InMemoryQueue[Any]("test", memory_queue_config) as queue:
        yield queue


@pytest.fixture
def recording_handler() -> RecordingHandler[Any]:
    """A fresh ``RecordingHandler`` that never fails."""
    return RecordingHandler[Any]()
