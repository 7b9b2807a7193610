"""Samples of every queue's stats, taken every few seconds, for throughput sparklines."""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Final

import attrs
import trio

from .._errors import QueueError

if TYPE_CHECKING:
    from .._model import QueueStats
    from ._sources import Source

__all__ = ["Sample", "Sampler", "sparkline_points"]

logger = logging.getLogger("checkqueue_actors.dashboard")

WINDOW_SECONDS: Final = 15 * 60.0
"""How far back the samples go."""
RATE_SECONDS: Final = 60.0
"""The completed rate is measured over about this long."""


@attrs.frozen
class Sample:
    """One reading of a queue's stats at wall-clock time ``at`` (seconds since the epoch)."""

    at: float
    pending: int
    processing: int
    completed: int
    failed: int


class Sampler:
    """Keeps the last 15 minutes of stats samples of each queue (in memory)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._samples: dict[str, deque[Sample]] = {}
        self._size = max(2, int(WINDOW_SECONDS / interval) + 1)

    def record(self, name: str, stats: QueueStats, at: float | None = None) -> None:
        """Add a reading of queue ``name``."""
        samples = self._samples.get(name)
        if samples is None:
            samples = self._samples[name] = deque(maxlen=self._size)
        when = time.time() if at is None else at
        samples.append(Sample(when, stats.pending, stats.processing, stats.completed, stats.failed))

    def samples(self, name: str) -> list[Sample]:
        """The readings of queue ``name`` within the window, oldest first."""
        samples = self._samples.get(name)
        if not samples:
            return []
        start = samples[-1].at - WINDOW_SECONDS
        return [s for s in samples if s.at >= start]

    def throughput(self, name: str) -> list[float]:
        """Deliveries finished (completed or failed) per second between readings."""
        samples = self.samples(name)
        rates: list[float] = []
        for before, after in itertools.pairwise(samples):
            span = after.at - before.at
            done = (after.completed + after.failed) - (before.completed + before.failed)
            rates.append(max(0.0, done / span) if span > 0 else 0.0)
        return rates

    def completed_rate(self, name: str) -> float | None:
        """Completed deliveries per second over the last minute (None: too few samples)."""
        samples = self.samples(name)
        if len(samples) < 2:
            return None
        last = samples[-1]
        first = next((s for s in samples if s.at >= last.at - RATE_SECONDS), samples[0])
        if first is last:
            first = samples[-2]
        span = last.at - first.at
        if span <= 0:
            return None
        return max(0.0, (last.completed - first.completed) / span)

    async def run(self, source: Source) -> None:
        """Read every queue's stats every ``interval`` seconds until cancelled."""
        while True:
            try:
                for name in await source.queue_names():
                    queue = await source.get_queue(name)
                    if queue is not None:
                        self.record(name, await queue.get_stats())
            except QueueError as exc:
                # an outage: the pages say it too; the next round tries again
                logger.warning("dashboard: stats sampling failed: %s", type(exc).__name__)
            await trio.sleep(self.interval)


def sparkline_points(values: list[float], width: float = 120, height: float = 24) -> str:
    """The ``points`` of an SVG polyline drawing ``values`` (empty for fewer than two)."""
    if len(values) < 2:
        return ""
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )
