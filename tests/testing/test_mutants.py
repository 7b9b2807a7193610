"""The kit catches broken backends: each mutant fails conformance tests and the machine."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from checkqueue_actors.testing import ConformanceHarness, QueueConformanceTests
from checkqueue_actors.testing.stateful import QueueStateMachine

from .mutants import MUTANTS, make_mutant_queue

if TYPE_CHECKING:
    from checkqueue_actors import Queue
    from checkqueue_actors._state.engine import QueueEngine

# which conformance tests must fail for each mutant (at least these; others may too)
CAUGHT_BY: dict[str, list[str]] = {
    "shared-retry-counter": [
        "test_attempts_count_only_the_groups_own_retries",
    ],
    "lifo": [
        "test_priority_then_fifo_for_jobs_waiting_for_the_first_group",
        "test_priority_then_fifo_while_the_consumer_is_busy",
        "test_delayed_jobs_are_ordered_by_when_they_became_available",
    ],
    "no-dedup": [
        "test_dedup_while_waiting_for_the_first_group",
        "test_dedup_while_delayed",
        "test_dedup_while_running_then_free_again",
        "test_dedup_while_in_retry_backoff",
        "test_dedup_holds_until_every_group_is_done",
    ],
    "no-broadcast": [
        "test_every_group_gets_every_job",
        "test_failures_in_one_group_never_affect_another",
    ],
    "fixed-backoff": [
        "test_retry_backoff_doubles_until_max_retries",
    ],
}


def _run_conformance_test(engine: type[QueueEngine], test_name: str) -> None:
    harness = ConformanceHarness(functools.partial(make_mutant_queue, engine))
    method = getattr(QueueConformanceTests(), test_name)
    trio.run(
        functools.partial(method, cq=harness, cq_clock=None),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


@pytest.mark.parametrize(
    ("mutant", "test_name"),
    [(mutant, name) for mutant, names in CAUGHT_BY.items() for name in names],
)
def test_conformance_suite_catches_mutant(mutant: str, test_name: str) -> None:
    """The named conformance test fails against the mutant."""
    with pytest.raises(BaseException) as info:  # noqa: PT011  # an AssertionError, maybe grouped
        _run_conformance_test(MUTANTS[mutant], test_name)
    exc: BaseException = info.value
    while isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        if len(group.exceptions) != 1:
            break
        exc = group.exceptions[0]
    assert isinstance(exc, AssertionError | trio.TooSlowError), repr(exc)  # pyright: ignore[reportUnknownArgumentType]


@pytest.mark.parametrize("test_name", sorted({n for names in CAUGHT_BY.values() for n in names}))
def test_the_same_tests_pass_on_the_real_engine(test_name: str) -> None:
    """Control: the tests used above pass against the unmodified engine."""
    from checkqueue_actors._state.engine import QueueEngine

    _run_conformance_test(QueueEngine, test_name)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_catches_mutant(mutant: str) -> None:
    """The state machine finds a failing example against every mutant."""
    engine = MUTANTS[mutant]

    class Machine(QueueStateMachine):
        def make_queue(
            self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
        ) -> Queue[Any]:
            return make_mutant_queue(
                engine,
                name,
                concurrency=concurrency,
                max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier,
            )

    quick = settings(
        max_examples=500,
        derandomize=True,  # a fixed search, so the result cannot flake
        phases=[Phase.generate],  # no shrinking: finding one failure is the point
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(Machine, settings=quick)
