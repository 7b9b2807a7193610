"""Job control across processes on one server: a pause made in one process stops
claims in the others, a running job cancelled from another process is cancelled
within a second and not retried, and a job past its timeout is retried and ends in
the failed-jobs record with ``JobTimeoutError``. Figures are printed (``-s``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors.redis import RedisQueue

from ._agents import wait_for
from .test_multiprocess import Cluster, cluster

if TYPE_CHECKING:
    from checkqueue_actors import FailedJob

pytestmark = pytest.mark.redis

__all__ = ["cluster"]  # the fixture, shared with test_multiprocess


def _report(name: str, **figures: Any) -> None:
    print(f"[{name}] " + " ".join(f"{k}={v}" for k, v in figures.items()))


def _call(cluster: Cluster, call: str, *args: Any) -> Any:
    """Run one queue method from this (third) process and return its result."""

    async def run() -> Any:
        async with RedisQueue[Any]("q", cluster.config()) as queue:
            return await getattr(queue, call)(*args)

    return trio.run(run)


def test_a_pause_in_one_process_stops_claims_in_the_others(cluster: Cluster) -> None:
    """Two workers; this process pauses the group: jobs enqueued after ``pause`` returned
    start nowhere (claims obey the stored state at once), and start again once resumed."""
    for _ in range(2):
        cluster.spawn("--group", "W", "--concurrency", "4")
    cluster.wait_ready(2)
    cluster.enqueue([("before", 1)])
    assert wait_for(lambda: cluster.read().dones[("before", "W")] == 1, 30)

    _call(cluster, "pause", "W")
    assert _call(cluster, "is_paused", "W")
    cluster.enqueue([(f"p{i}", i) for i in range(20)])
    time.sleep(1.5)
    ledger = cluster.read()
    assert not any(job.startswith("p") for job, _group in ledger.starts), ledger.starts

    resumed_at = time.monotonic()
    _call(cluster, "resume", "W")
    assert wait_for(
        lambda: all(cluster.read().dones[(f"p{i}", "W")] >= 1 for i in range(20)), 30, 0.01
    )
    _report("pause", resume_to_all_done_s=f"{time.monotonic() - resumed_at:.2f}")


def test_a_running_job_cancelled_from_another_process_stops_within_a_second(
    cluster: Cluster,
) -> None:
    """The handler in the worker sees ``trio.Cancelled`` within 1 s of ``cancel_job``
    returning in this process; the job is not retried, nor counted."""
    cluster.spawn("--group", "W", "--concurrency", "2", "--lease", "2")
    cluster.wait_ready(1)
    cluster.enqueue([("long", {"work": 600})])
    assert wait_for(lambda: cluster.read().starts[("long", "W")] == 1, 30)

    assert _call(cluster, "cancel_job", "long")
    cancelled_at = time.monotonic()
    assert wait_for(lambda: cluster.read().cancels[("long", "W")] == 1, 10, 0.01)
    seen_after = time.monotonic() - cancelled_at
    _report("cancel", seen_after_s=f"{seen_after:.3f}")
    assert seen_after < 1.0
    time.sleep(3)  # longer than the lease: nothing takes it back
    ledger = cluster.read()
    assert ledger.starts[("long", "W")] == 1
    assert ledger.dones[("long", "W")] == 0
    assert (cluster.stat("completed"), cluster.stat("failed")) == (0, 0)
    assert _call(cluster, "get_job", "long") is None


def test_a_job_past_its_timeout_is_retried_then_recorded_as_failed(cluster: Cluster) -> None:
    """With a group timeout of 0.3 s, a 5 s job runs 1 + 3 retries, each cancelled, then
    its entry in the failed-jobs record names ``JobTimeoutError``."""
    cluster.spawn("--group", "W", "--timeout", "0.3")
    cluster.wait_ready(1)
    cluster.enqueue([("slow", {"work": 5})])
    assert wait_for(lambda: cluster.stat("failed") == 1, 30)
    ledger = cluster.read()
    assert ledger.starts[("slow", "W")] == 4
    assert ledger.cancels[("slow", "W")] == 4
    assert ledger.dones[("slow", "W")] == 0
    failed: list[FailedJob[Any]] = _call(cluster, "get_failed_jobs")
    assert [(f.job_id, f.consumer_group, f.attempts) for f in failed] == [("slow", "W", 3)]
    assert failed[0].error.startswith("JobTimeoutError:"), failed[0].error
