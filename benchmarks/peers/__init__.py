"""One small driver per queue: ``run(workload, params) -> metrics``.

Every driver runs in its own subprocess (``python -m benchmarks.peers DRIVER WORKLOAD
PARAMS_JSON``), so imports, event loops and memory never leak between measurements.
Workloads shared by all drivers (each through the peer's own public API, one process,
``concurrency`` handlers at once, a no-op ``async`` handler):

- ``live``: a consumer already runs while ``n`` jobs are enqueued one by one; seconds
  from the first enqueue to the last handler.
- ``drain``: ``n`` jobs are enqueued first (not timed), then a consumer starts; seconds
  from its start to the last handler.
- ``enqueue`` / ``enqueue_bulk``: seconds to enqueue ``n`` jobs one call each / in bulk;
  ``enqueue_concurrent``: ``tasks`` producers at once, one awaited call per job.
- ``latency``: ``samples`` jobs, one at a time on an idle queue; p50 and p99 in ms from
  the enqueue call to the handler's start.

A driver raises ``Unsupported`` for a workload its peer has no API for, and an
``ImportError`` when the peer is not installed; both become a skipped row.
"""

from __future__ import annotations

DRIVERS = (
    "trio_channel",
    "ours_memory",
    "taskiq_memory",
    "dramatiq_stub",
    "ours_redis",
    "taskiq_redis",
    "dramatiq_redis",
    "arq",
    "saq",
    "bullmq",
)
