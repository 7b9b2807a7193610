"""The in-memory backend through the public QueueStateMachine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors._state.engine import GroupState, QueueEngine
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


class _LosesEveryJob(QueueEngine):
    """Stores every plain job (counted pending) where no group ever looks."""

    def enqueue(self, **kwargs: Any) -> bool:
        groups = self._group_tuple
        if groups is None or kwargs.get("schedule") is not None:
            return super().enqueue(**kwargs)
        self._group_tuple = (GroupState(name="", max_retries=0),)
        try:
            return super().enqueue(**kwargs)
        finally:
            self._group_tuple = groups


class _LosingMachine(MemoryMachineRealMode):
    real_timeout = 5.0

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        queue = super().make_queue(
            name,
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )
        storage = cast("InMemoryQueue[Any]", queue).storage
        assert isinstance(storage, MemoryStorage)
        old = storage.engine
        storage.engine = _LosesEveryJob(
            name=old.name, max_queue_size=old.max_queue_size, clock=old.clock
        )
        return queue


def test_real_mode_liveness_failure_shows_the_queues_view() -> None:
    """A job the queue never delivers fails the teardown check, and the message carries
    what the queue says of it (stats, pause state, ``get_job``): the evidence for a
    failure Hypothesis cannot replay."""
    machine_settings = settings(
        max_examples=50,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(_LosingMachine, settings=machine_settings)
    message = str(caught.value)
    assert "did not happen within real_timeout" in message
    assert "the queue's view:\nstats: QueueStats(" in message
    assert "paused: False" in message
    assert "get_job('" in message
