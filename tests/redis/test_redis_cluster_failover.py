"""A Redis Cluster failover under load: 3 masters, 3 replicas, the queue's master killed.

A producer enqueues with job ids as fast as it can and records the acknowledged
ones; consumers record completions. The master holding the queue's hash slot is
SIGKILLed; its replica takes over (``cluster-node-timeout`` 1 s). The test
measures how long after the promotion the queue accepts an enqueue again and
completes a job enqueued after it (asserted under 5 s), and how many
acknowledged enqueues were lost: never completed and not in Redis. Redis
replicates asynchronously, so without ``wait_replicas`` an enqueue acknowledged
just before the kill may be lost (reported, not asserted); with
``wait_replicas=1`` none may be. Run with ``-s`` to see the figures.
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
    from collections.abc import Generator
    from pathlib import Path

_RESUME_MAX = 5.0
"""Seconds after the promotion within which the queue must enqueue and complete again."""
_LOAD_BEFORE = 1.0
"""Seconds of load before the kill."""
_LOAD_AFTER = 1.0
"""Seconds of load after the queue has resumed."""


@contextlib.contextmanager
def _replicated_cluster(directory: Path, replicas: int) -> Generator[RedisCluster]:
    """Three masters with ``replicas`` replicas each on free loopback ports
    (``cluster-node-timeout`` 1 s), stopped afterwards."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found")
    if not cluster_support(binary, directory / "probe"):
        pytest.skip("this redis-server has no cluster support")
    cluster = RedisCluster(directory / "cluster", replicas=replicas, node_timeout_ms=1000)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


class _Run:
    """What the producer and the consumers saw, on ``time.monotonic()``."""

    def __init__(self) -> None:
        self.acked: dict[str, float] = {}
        self.failed_enqueues = 0
        self.done: dict[str, list[float]] = {}
        """Every start of each job (a job may run twice: at least once)."""

    async def handle(self, job: QueueJob[Any]) -> None:
        self.done.setdefault(job.id, []).append(time.monotonic())

    def first_completion_after(self, at: float) -> float:
        """When a job enqueued after ``at`` first ran (inf: none)."""
        return min(
            (
                ran
                for job_id, runs in self.done.items()
                if self.acked.get(job_id, 0.0) >= at
                for ran in runs
                if ran >= at
            ),
            default=float("inf"),
        )


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


@pytest.mark.parametrize(
    ("wait_replicas", "replicas"),
    [(0, 1), (1, 2)],
    ids=["no-wait-3+3", "wait-1-3+6"],
)
async def test_the_queue_resumes_within_5_s_of_a_master_failover(
    tmp_path: Path, wait_replicas: int, replicas: int
) -> None:
    """Kill the queue's master under load: enqueues and completions resume within
    5 s of the replica's promotion; with ``wait_replicas=1`` no acknowledged enqueue
    is lost.

    With ``wait_replicas=1`` each master has two replicas: the new master must keep
    one, or every enqueue after the failover would wait for a replica it does not
    have (and raise).
    """
    with _replicated_cluster(tmp_path, replicas) as cluster:
        await _failover(cluster, wait_replicas)


async def _failover(cluster: RedisCluster, wait_replicas: int) -> None:
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
        wait_replicas=wait_replicas,
    )
    base = f"{prefix}:{{{name}}}:"
    run = _Run()
    stop = trio.Event()
    with trio.fail_after(45):
        async with RedisQueue[Any](name, config) as queue:
            await queue.consume(run.handle, consumer_group="g")
            async with trio.open_nursery() as producers:
                producers.start_soon(_produce, queue, run, stop)
                await trio.sleep(_LOAD_BEFORE)
                killed_at = time.monotonic()
                killed = await trio.to_thread.run_sync(cluster.kill_owner, base)
                new_master, promoted_at = await trio.to_thread.run_sync(
                    cluster.wait_promoted, killed
                )

                def resumed() -> bool:
                    return run.first_completion_after(promoted_at) < float("inf")

                with contextlib.suppress(trio.TooSlowError):  # the figures below tell
                    await wait_until(resumed, timeout=_RESUME_MAX + 5)
                await trio.sleep(_LOAD_AFTER)
                stop.set()  # the producer's last enqueue ends before the drain

            async def drained() -> bool:
                if not set(run.acked) - set(run.done):
                    return True
                stats = await queue.get_stats()
                return (stats.pending, stats.processing) == (0, 0)

            # every acknowledged job completed, or nothing is left in Redis
            with contextlib.suppress(trio.TooSlowError):
                await wait_until(drained, timeout=15, poll_interval=0.05)
    enqueue_resume = (
        min((at for at in run.acked.values() if at >= promoted_at), default=float("inf"))
        - promoted_at
    )
    complete_resume = run.first_completion_after(promoted_at) - promoted_at
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
    if wait_replicas:
        assert lost == 0


async def test_wait_replicas_waits_on_the_node_that_ran_the_enqueue(tmp_path: Path) -> None:
    """On a cluster, ``WAIT`` goes to the master holding the queue: with its replica
    paused, an enqueue is stored but raises (not confirmed); once the replica is
    back, retrying with the same job id succeeds and stores the job once."""
    with _replicated_cluster(tmp_path, 1) as cluster:
        prefix = f"k{uuid.uuid4().hex[:6]}"
        name = "waited"
        base = f"{prefix}:{{{name}}}:"
        config = RedisQueueConfig(
            url=cluster.url,
            cluster=True,
            key_prefix=prefix,
            connect_timeout=1.0,
            stream_timeout=2.0,
            wait_replicas=1,
            wait_timeout_ms=200,
        )
        owner = cluster.owner(base)
        replica = next(
            s
            for s in cluster.servers
            if s is not owner and s.command("ROLE")[0] == b"slave"
            if int(s.command("ROLE")[2]) == owner.port
        )
        with trio.fail_after(30):
            async with RedisQueue[Any](name, config) as queue:
                assert await queue.enqueue("a", job_id="a") == "a"
                # the replica answers MOVED to keyed reads: compare whole databases
                assert replica.command("DBSIZE") == owner.command("DBSIZE") > 0
                replica.pause()
                try:
                    with pytest.raises(BackendUnavailableError, match="not confirmed by 1"):
                        await queue.enqueue("b", job_id="b")
                    with pytest.raises(BackendUnavailableError, match="not confirmed by 1"):
                        await queue.enqueue_many(["c"], job_ids=["c"])
                finally:
                    replica.resume()
                assert owner.command("EXISTS", f"{base}j:b") == 1  # stored on the master
                assert await queue.enqueue("b", job_id="b") == "b"
                assert (await queue.get_stats()).pending == 3
