"""Subprocess entry: ``python -m benchmarks.peers DRIVER WORKLOAD PARAMS_JSON``.

Prints one line ``RESULT <json>``, or ``SKIP <reason>`` (exit 0) when the peer is not
installed or has no such workload.
"""

from __future__ import annotations

import importlib
import json
import sys

from benchmarks._common import Unsupported
from benchmarks.peers import DRIVERS


def main(argv: list[str]) -> int:
    driver, workload, raw = argv
    if driver not in DRIVERS:
        print(f"unknown driver {driver!r}", file=sys.stderr)
        return 2
    params = json.loads(raw)
    try:
        module = importlib.import_module(f"benchmarks.peers.{driver}")
        metrics = module.run(workload, params)
    except Unsupported as exc:
        print(f"SKIP {exc}", flush=True)
        return 0
    except ImportError as exc:
        print(f"SKIP not installed ({exc.name or exc})", flush=True)
        return 0
    print("RESULT " + json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
