"""How much work the state machine's examples do, on the in-memory backend.

Runs ``QueueStateMachine`` (virtual mode) over an in-memory queue for each seed,
at Hypothesis's default settings (100 examples of up to 50 steps, no shrinking),
and prints, per seed and overall: the share of examples that delivered at least
one job, and the mean number of deliveries per example. Run from the repository
root (``PYTHONPATH`` picks the package version to measure)::

    PYTHONPATH=. python scripts/machine_stats.py [--seeds 1 2 3 4 5] [--examples 100]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig
from checkqueue_actors.testing.stateful import QueueStateMachine


def measure(at_seed: int, examples: int) -> list[int]:
    """Deliveries of each example of one run."""
    counts: list[int] = []

    class Counting(QueueStateMachine):
        def __init__(self) -> None:
            counts.append(0)
            super().__init__()

        def make_queue(
            self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
        ) -> Any:
            config = InMemoryQueueConfig(
                concurrency=concurrency,
                max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier,
            )
            queue = InMemoryQueue[Any](name, config)
            consume = queue.consume
            index = len(counts) - 1

            async def counting_consume(handler: Any, **kwargs: Any) -> None:
                async def counted(job: Any) -> None:
                    counts[index] += 1
                    await handler(job)

                await consume(counted, **kwargs)

            queue.consume = counting_consume  # type: ignore[method-assign]
            return queue

    run_state_machine_as_test(
        seed(at_seed)(Counting),
        settings=settings(
            max_examples=examples,
            stateful_step_count=50,
            phases=[Phase.explicit, Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    everything: list[int] = []
    for at_seed in args.seeds:
        counts = measure(at_seed, args.examples)
        everything += counts
        share = sum(1 for c in counts if c) / len(counts)
        print(
            f"seed {at_seed}: {len(counts)} examples, {share:.0%} deliver at least one job, "
            f"{sum(counts) / len(counts):.1f} deliveries per example"
        )
    share = sum(1 for c in everything if c) / len(everything)
    print(
        f"all: {len(everything)} examples, {share:.0%} deliver at least one job, "
        f"{sum(everything) / len(everything):.1f} deliveries per example"
    )


if __name__ == "__main__":
    main()
