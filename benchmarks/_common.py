"""Helpers shared by the drivers (run inside each measurement's subprocess)."""

from __future__ import annotations

import gc
import math
import os
import resource
import time
from typing import Any

__all__ = [
    "Unsupported",
    "cpu_seconds",
    "max_rss_bytes",
    "percentile",
    "rss_bytes",
]


class Unsupported(Exception):  # a signal, not an error
    """The driver has no such workload (the peer's API has no equivalent)."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values`` by nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def rss_bytes() -> int:
    """This process's resident set size now (after a full garbage collection)."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int:
    """This process's peak resident set size so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    return time.process_time()


def result(**metrics: Any) -> dict[str, Any]:
    """A driver's result (floats, with ints allowed)."""
    return dict(metrics)
