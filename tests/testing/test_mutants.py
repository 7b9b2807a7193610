"""The kit catches broken backends: each mutant fails conformance tests and the machine.

Every mutant of ``mutants.py`` must fail the conformance tests it names, and the
state machine at its default settings (Hypothesis's 100 examples of up to 50 steps)
must find a failing example for it with each of five different seeds. The machine
part runs 5 seeds x every mutant; see ``scripts/mutant_table.py`` for the time it takes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from checkqueue_actors.testing import ConformanceHarness, QueueConformanceTests
from checkqueue_actors.testing.stateful import QueueStateMachine

from .mutants import MUTANTS, Mutant

if TYPE_CHECKING:
    from checkqueue_actors import Queue
    from checkqueue_actors.testing import MakeQueue

SEEDS = (1, 2, 3, 4, 5)
"""The machine must catch every mutant with each of these seeds."""

MACHINE_SETTINGS = settings(
    max_examples=100,  # Hypothesis's default
    stateful_step_count=50,  # Hypothesis's default
    phases=[Phase.explicit, Phase.generate],  # finding a failure is the point: no shrinking
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,  # no replay of earlier failures: each seed searches afresh
    derandomize=False,
)
"""The machine's default settings, without the shrink phase (which only runs once a
failure was found) and without the example database."""


def run_conformance_test(make_queue: MakeQueue, test_name: str) -> None:
    """Run one conformance test (virtual mode) against a queue factory."""
    harness = ConformanceHarness(make_queue)
    method = getattr(QueueConformanceTests(), test_name)
    trio.run(
        functools.partial(method, cq=harness, cq_clock=None),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


def conformance_fails(make_queue: MakeQueue, test_name: str) -> bool:
    """True when the conformance test fails (an assertion or a timeout) on that factory."""
    try:
        run_conformance_test(make_queue, test_name)
    except BaseException as exc:  # an AssertionError, maybe grouped
        while isinstance(exc, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", exc)
            if len(group.exceptions) != 1:
                break
            exc = group.exceptions[0]
        if isinstance(exc, AssertionError | trio.TooSlowError):
            return True
        raise
    return False


def machine_for(make_queue: MakeQueue, at_seed: int) -> type[QueueStateMachine]:
    """A ``QueueStateMachine`` over ``make_queue`` whose search starts from ``at_seed``."""

    class Machine(QueueStateMachine):
        def make_queue(
            self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
        ) -> Queue[Any]:
            return make_queue(
                name,
                concurrency=concurrency,
                max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier,
            )

    return seed(at_seed)(Machine)


def machine_catches(make_queue: MakeQueue, at_seed: int) -> bool:
    """True when the machine finds a failing example with that seed."""
    try:
        run_state_machine_as_test(machine_for(make_queue, at_seed), settings=MACHINE_SETTINGS)
    except Exception:  # any failing example is a catch (the control passes)
        return True
    return False


@pytest.mark.parametrize(
    ("mutant", "test_name"),
    [(m.name, name) for m in MUTANTS.values() for name in m.caught_by],
)
def test_conformance_suite_catches_mutant(mutant: str, test_name: str) -> None:
    """The named conformance test fails against the mutant."""
    assert conformance_fails(MUTANTS[mutant].make, test_name)


@pytest.mark.parametrize(
    "test_name", sorted({name for m in MUTANTS.values() for name in m.caught_by})
)
def test_the_same_tests_pass_on_the_real_engine(test_name: str) -> None:
    """Control: the tests used above pass against the unmodified in-memory queue."""
    from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig

    def make(
        name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        config = InMemoryQueueConfig(
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
        )
        return InMemoryQueue[Any](name, config)

    run_conformance_test(make, test_name)


def test_mutants_cover_every_area() -> None:
    """At least 20 mutants, in every contract area."""
    areas = {m.area for m in MUTANTS.values()}
    assert len(MUTANTS) >= 20
    assert areas >= {
        "ordering",
        "delays",
        "dedup",
        "groups",
        "round-robin",
        "retries",
        "concurrency",
        "recurring",
        "lifetimes",
        "stats",
        "export",
        "volume",
    }


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_catches_mutant_with_every_seed(mutant: str) -> None:
    """The machine at its default settings finds a failing example for every seed."""
    the: Mutant = MUTANTS[mutant]
    missed = [s for s in SEEDS if not machine_catches(the.make, s)]
    assert not missed, f"the machine missed {mutant!r} with seeds {missed}"
