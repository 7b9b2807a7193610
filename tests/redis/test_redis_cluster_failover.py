"""A Redis Cluster failover under load: 3 masters, 3 replicas, the queue's master killed.

A producer enqueues with job ids as fast as it can and records the acknowledged
ones; consumers record completions. The master holding the queue's hash slot is
SIGKILLed; its replica takes over (``cluster-node-timeout`` 1 s). The test
measures how long after the promotion the queue accepts an enqueue again and
completes a job enqueued after it (asserted under 5 s), and how many
acknowledged enqueues were lost: never completed and not in Redis. Redis
replicates asynchronously, so an enqueue acknowledged just before the kill may
be lost (reported, not asserted). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import BackendUnavailableError, QueueJob
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig
from checkqueue_actors.testing import wait_until

from ._server import RedisCluster, cluster_support, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_RESUME_MAX = 5.0
"""Seconds after the promotion within which the queue must enqueue and complete again."""
_LOAD_BEFORE = 1.0
"""Seconds of load before the kill."""
_LOAD_AFTER = 1.0
"""Seconds of load after the queue has resumed."""


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """Three masters and three replicas on free loopback ports, stopped afterwards."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found")
    if not cluster_support(binary, tmp_path / "probe"):
        pytest.skip("this redis-server has no cluster support")
    cluster = RedisCluster(tmp_path / "cluster", replicas=1, node_timeout_ms=1000)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


class _Run:
    """What the producer and the consumers saw, on ``time.monotonic()``."""

    def __init__(self) -> None:
        self.acked: dict[str, float] = {}
        self.failed_enqueues = 0
        self.done: dict[str, float] = {}

    async def handle(self, job: QueueJob[Any]) -> None:
        self.done.setdefault(job.id, time.monotonic())


async def _produce(queue: RedisQueue[Any], run: _Run, stop: trio.Event) -> None:
    i = 0
    while not stop.is_set():
        job_id = f"j{i}"
        try:
            await queue.enqueue(i, job_id=job_id)
        except BackendUnavailableError:
            run.failed_enqueues += 1
            await trio.sleep(0.01)
            continue
        run.acked[job_id] = time.monotonic()
        i += 1


async def test_the_queue_resumes_within_5_s_of_a_master_failover(
    replicated_cluster: RedisCluster,
) -> None:
    """Kill the queue's master under load: enqueues and completions resume within
    5 s of the replica's promotion."""
    wait_replicas = 0
    cluster = replicated_cluster
    prefix = f"k{uuid.uuid4().hex[:6]}"
    name = "failover"
    config = RedisQueueConfig(
        url=cluster.url,
        cluster=True,
        key_prefix=prefix,
        lease_seconds=2.0,
        connect_timeout=0.5,
        stream_timeout=1.0,
        poll_interval_ms=200,
        concurrency=20,
    )
    base = f"{prefix}:{{{name}}}:"
    run = _Run()
    stop = trio.Event()
    with trio.fail_after(45):
        async with RedisQueue[Any](name, config) as queue, trio.open_nursery() as nursery:
            await queue.consume(run.handle, consumer_group="g")
            nursery.start_soon(_produce, queue, run, stop)
            await trio.sleep(_LOAD_BEFORE)
            killed_at = time.monotonic()
            killed = await trio.to_thread.run_sync(cluster.kill_owner, base)
            new_master, promoted_at = await trio.to_thread.run_sync(cluster.wait_promoted, killed)

            def resumed() -> bool:
                return any(at >= promoted_at for at in run.acked.values()) and any(
                    run.acked.get(job_id, 0.0) >= promoted_at for job_id in run.done
                )

            async def drained() -> bool:
                if not set(run.acked) - set(run.done):
                    return True
                stats = await queue.get_stats()
                return (stats.pending, stats.processing) == (0, 0)

            with contextlib.suppress(trio.TooSlowError):  # the figures below tell
                await wait_until(resumed, timeout=_RESUME_MAX + 5)
            await trio.sleep(_LOAD_AFTER)
            stop.set()
            # every acknowledged job completed, or nothing is left in Redis
            with contextlib.suppress(trio.TooSlowError):
                await wait_until(drained, timeout=15, poll_interval=0.05)
    enqueue_resume = (
        min((at for at in run.acked.values() if at >= promoted_at), default=float("inf"))
        - promoted_at
    )
    complete_resume = (
        min(
            (at for job_id, at in run.done.items() if run.acked.get(job_id, 0.0) >= promoted_at),
            default=float("inf"),
        )
        - promoted_at
    )
    missing = sorted(set(run.acked) - set(run.done))
    in_redis = [job_id for job_id in missing if new_master.command("EXISTS", f"{base}j:{job_id}")]
    lost = len(missing) - len(in_redis)
    print(
        f"\nfailover (wait_replicas={wait_replicas}): "
        f"promotion {promoted_at - killed_at:.2f} s after the kill; "
        f"first enqueue {enqueue_resume:.2f} s and first completion "
        f"{complete_resume:.2f} s after the promotion; "
        f"{len(run.acked)} enqueues acknowledged, {run.failed_enqueues} refused, "
        f"{len(run.done)} completed; lost {lost}, still in Redis {len(in_redis)}"
    )
    assert enqueue_resume < _RESUME_MAX
    assert complete_resume < _RESUME_MAX
    assert not in_redis
