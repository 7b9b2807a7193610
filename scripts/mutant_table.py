"""Print the mutant table of docs/how-to/certifying-a-backend.md.

For every mutant of ``tests/testing/mutants.py``: the conformance tests that must
catch it (each is run, and must fail), and whether the state machine, at its
default settings, finds a failing example with each of five seeds, with how many
examples and how long it took (without shrinking). Run from the repository root::

    PYTHONPATH=. python scripts/mutant_table.py [--seeds 1 2 3 4 5] [mutant ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis.stateful import run_state_machine_as_test

from tests.testing.mutants import MUTANTS
from tests.testing.test_mutants import (
    MACHINE_SETTINGS,
    SEEDS,
    conformance_fails,
    machine_for,
)


def machine_run(make: Any, seed: int) -> tuple[bool, int, float]:
    """(caught, examples until the first failing one, seconds until it failed)."""
    machine = machine_for(make, seed)
    examples = 0
    first: tuple[int, float] | None = None
    init, teardown = machine.__init__, machine.teardown
    start = time.perf_counter()

    def counting_init(self: Any) -> None:
        nonlocal examples
        examples += 1
        init(self)

    def noting_teardown(self: Any) -> None:
        nonlocal first
        if first is None and sys.exc_info()[1] is not None:  # this example failed
            first = (examples, time.perf_counter() - start)
        teardown(self)

    machine.__init__ = counting_init  # type: ignore[method-assign]
    machine.teardown = noting_teardown  # type: ignore[method-assign]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
    except Exception:  # any failure is a catch
        if first is None:
            first = (examples, time.perf_counter() - start)
        return True, first[0], first[1]
    return False, examples, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mutants", nargs="*", help="only these mutants")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # handlers fail on purpose: no tracebacks
    names = args.mutants or list(MUTANTS)
    print(
        "| Mutant | Area | Conformance tests that catch it | Conformance time | "
        f"Machine catches ({len(args.seeds)} seeds) | Examples to detection | "
        "Machine time to detection |"
    )
    print("|---|---|---|---|---|---|---|")
    total = time.perf_counter()
    for name in names:
        mutant = MUTANTS[name]
        start = time.perf_counter()
        caught = [test for test in mutant.caught_by if conformance_fails(mutant.make, test)]
        conformance = time.perf_counter() - start
        runs = [machine_run(mutant.make, seed) for seed in args.seeds]
        hits = sum(1 for ok, _, _ in runs if ok)
        examples = sorted(n for _, n, _ in runs)
        seconds = [s for _, _, s in runs]
        tests = ", ".join(f"`{t}`" for t in caught)
        if len(caught) != len(mutant.caught_by):
            tests += " (NOT ALL FAIL)"
        print(
            f"| `{name}` | {mutant.area} | {tests} | {conformance:.2f} s | "
            f"{hits}/{len(runs)} | {examples[0]}-{examples[-1]} (median "
            f"{examples[len(examples) // 2]}) | "
            f"mean {sum(seconds) / len(seconds):.2f} s, max {max(seconds):.2f} s |",
            flush=True,
        )
    print(f"\nTotal: {time.perf_counter() - total:.0f} s for {len(names)} mutants.")


if __name__ == "__main__":
    main()
