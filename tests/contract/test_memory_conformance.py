"""The in-memory backend through the public conformance suite, in both time modes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors.testing import BulkEnqueueConformance, QueueConformanceTests

if TYPE_CHECKING:
    from checkqueue_actors import Queue
    from checkqueue_actors.testing import MakeQueue


def make_memory_queue(
    name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
) -> Queue[Any]:
    """A fresh in-memory queue with these settings."""
    config = InMemoryQueueConfig(
        concurrency=concurrency,
        max_queue_size=max_queue_size,
        delay_multiplier=delay_multiplier,
    )
    return InMemoryQueue[Any](name, config)


class TestMemoryConformance(BulkEnqueueConformance, QueueConformanceTests):
    """The memory backend on an autojump clock (virtual mode: exact times)."""

    time_mode = "virtual"

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        return make_memory_queue


class TestMemoryConformanceRealMode(BulkEnqueueConformance, QueueConformanceTests):
    """The suite's real-time mode (scaled delays, tolerances), exercised on a virtual clock.

    This proves the mode a Redis-like backend uses is itself sound, without real sleeps:
    only the clock fixture differs from what such a backend gets.
    """

    time_mode = "real"
    real_delay_multiplier = 0.05

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        return make_memory_queue

    @pytest.fixture
    def cq_clock(self) -> trio.abc.Clock | None:
        return trio.testing.MockClock(autojump_threshold=0)
