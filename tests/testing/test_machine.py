"""The in-memory backend through the public QueueStateMachine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
import trio.testing
from hypothesis import settings

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors.testing.stateful import QueueStateMachine

if TYPE_CHECKING:
    from checkqueue_actors import Queue


class MemoryMachine(QueueStateMachine):
    """Virtual mode: exact model of deliveries, order, stats."""

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        config = InMemoryQueueConfig(
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )
        return InMemoryQueue[Any](name, config)


TestMemoryMachine = MemoryMachine.TestCase


class MemoryMachineRealMode(MemoryMachine):
    """The machine's real-time mode (safety per step, liveness at teardown).

    Run on an autojump clock, so that time passes between steps as on a real clock,
    but without real sleeps.
    """

    time_mode = "real"
    delay_multiplier = 0.01
    max_queue_size = 1000

    def make_clock(self) -> trio.abc.Clock | None:
        return trio.testing.MockClock(autojump_threshold=0)


TestMemoryMachineRealMode = MemoryMachineRealMode.TestCase
TestMemoryMachineRealMode.settings = settings(max_examples=25)
