"""``python -m benchmarks``: run the scenarios, print the table, write JSON and an SVG chart.

Options: ``--quick`` (small sizes, under two minutes), ``--scenario A,1,...``, ``--runs N``,
``--out DIR`` (default ``benchmarks/results``), ``--no-redis``, ``--no-node``,
``--drivers trio_channel,ours_memory,...`` (only those drivers' rows), ``--baseline DIR``
(our rows also run from another checkout, interleaved, to compare two versions).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import _runner
from benchmarks.peers import DRIVERS
from benchmarks.scenarios import PROFILES, SCENARIO_KEYS, build


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: finishes in under two minutes"
    )
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # CI smoke test
    parser.add_argument(
        "--scenario",
        default=",".join(SCENARIO_KEYS),
        help=f"comma-separated scenarios among {','.join(SCENARIO_KEYS)} (default: all)",
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (median taken)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="output directory",
    )
    parser.add_argument("--no-redis", action="store_true", help="skip every Redis row")
    parser.add_argument("--no-node", action="store_true", help="skip BullMQ (node)")
    parser.add_argument(
        "--drivers",
        default=None,
        help="comma-separated drivers whose rows run (default: all), e.g. "
        "trio_channel,ours_memory,ours_redis",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. `git worktree add /tmp/base main`): each of our rows "
        "also runs from it, interleaved, labelled '@ baseline'",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status."""
    args = _parse(argv)
    profile = "tiny" if args.tiny else "quick" if args.quick else "full"
    keys = [k.strip().upper() for k in args.scenario.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIO_KEYS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; choose among {','.join(SCENARIO_KEYS)}")
        return 2
    sizes = PROFILES[profile]
    runs = args.runs if args.runs is not None else int(sizes["runs"])
    drivers = None
    if args.drivers is not None:
        drivers = {d.strip() for d in args.drivers.split(",") if d.strip()}
        unknown = sorted(drivers - set(DRIVERS))
        if unknown:
            print(f"unknown driver(s): {', '.join(unknown)}; choose among {','.join(DRIVERS)}")
            return 2
    scenarios = build(
        keys, profile, redis=not args.no_redis, node=not args.no_node, drivers=drivers
    )
    if args.baseline is not None:
        _runner.add_baseline_rows(scenarios, args.baseline.resolve())
    machine = _runner.machine_info()
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    print(f"{command.strip()}  [{profile}, {runs} run(s) per figure]")
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}")
    t0 = time.perf_counter()
    results = _runner.run_scenarios(
        scenarios, runs=runs, timeout=float(sizes["timeout"]), log=lambda s: print(s, flush=True)
    )
    elapsed = time.perf_counter() - t0
    meta = {
        "command": command.strip(),
        "profile": profile,
        "runs": runs,
        "machine": machine,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": elapsed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    data = _runner.to_json(scenarios, results, meta)
    (args.out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "results.svg").write_text(_runner.to_svg(scenarios, results))
    markdown = "\n".join(
        _runner.render_table(s, r) for s, r in zip(scenarios, results, strict=True)
    )
    (args.out / "results.md").write_text(markdown)
    print(f"\ndone in {elapsed:.0f} s; wrote {args.out / 'results.json'}, results.svg, results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
