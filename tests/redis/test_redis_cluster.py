"""The Redis backend on a three-node Redis Cluster (``RedisQueueConfig(cluster=True)``).

Redis itself checks, in cluster mode, that every key a script touches is in the
slot of its declared key: running the whole lifecycle here proves that each
script keeps to its queue's hash slot.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors.redis import RedisConfigStore, RedisQueue, RedisQueueConfig
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

from ._server import RedisCluster, RedisServer, cluster_support, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """Three master nodes on free loopback ports, slots split evenly, stopped afterwards."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found")
    if not cluster_support(binary, tmp_path / "probe"):
        pytest.skip("this redis-server has no cluster support")
    cluster = RedisCluster(tmp_path / "cluster")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _owner(cluster: RedisCluster, key: str) -> RedisServer:
    slot = int(cluster.servers[0].command("CLUSTER", "KEYSLOT", key))
    per = 16384 // len(cluster.servers)
    return cluster.servers[min(slot // per, len(cluster.servers) - 1)]


def _names_on_other_nodes(cluster: RedisCluster, prefix: str) -> tuple[str, str]:
    """Two queue names whose slots live on two different nodes, neither the seed node."""
    seed = cluster.servers[0]
    found: dict[int, str] = {}
    for i in range(1000):
        name = f"q{i}"
        owner = _owner(cluster, f"{prefix}:{{{name}}}:x")
        if owner is not seed and owner.port not in found:
            found[owner.port] = name
        if len(found) == 2:
            break
    first, second = found.values()
    return first, second


async def test_a_queue_runs_its_whole_lifecycle_on_a_redis_cluster(
    redis_cluster: RedisCluster,
) -> None:
    """Enqueue, broadcast groups, retries, delays, recurring ticks, the failed record,
    stats, stop and export run on a cluster; each queue's keys sit on the node that
    owns its slot, reached from a seed node that owns neither."""
    prefix = f"k{uuid.uuid4().hex[:6]}"
    config = RedisQueueConfig(
        url=redis_cluster.url,  # the seed node
        cluster=True,
        key_prefix=prefix,
        delay_multiplier=0.01,
        lease_seconds=1.0,
        connect_timeout=1.0,
        stream_timeout=2.0,
        poll_interval_ms=200,
    )
    name_a, name_b = _names_on_other_nodes(redis_cluster, prefix)
    owner_a = _owner(redis_cluster, f"{prefix}:{{{name_a}}}:x")
    owner_b = _owner(redis_cluster, f"{prefix}:{{{name_b}}}:x")
    assert owner_a is not owner_b
    workers: DeliveryLog[Any] = DeliveryLog()
    auditors: DeliveryLog[Any] = DeliveryLog()
    others: DeliveryLog[Any] = DeliveryLog()
    async with RedisQueue[Any](name_a, config) as queue, RedisQueue[Any](name_b, config) as other:
        await queue.test_connection()
        # broadcast: each group gets every job; "workers" fails each job once (a retry)
        # and "poison" always, so it exhausts max_retries=2 after three deliveries
        await queue.consume(
            RecordingHandler(log=workers, fail_times=1, fail_ids={"poison"}),
            consumer_group="workers",
            max_retries=2,
        )
        await queue.consume(RecordingHandler(log=auditors), consumer_group="auditors")
        await other.consume(RecordingHandler(log=others), consumer_group="g")
        for i in range(5):
            await queue.enqueue(i, priority=i, job_id=f"job{i}")
        assert await queue.enqueue(99, job_id="job0") == "job0"  # dedup: not stored
        await queue.enqueue("later", job_id="later", start_delay=20)  # 0.2 s
        await queue.enqueue("poison", job_id="poison")
        await other.enqueue("elsewhere")
        await queue.schedule_recurring("tick", job_id="tick", interval_seconds=30)  # 0.3 s
        await queue.schedule_recurring("cron", job_id="cron", cron_pattern="0 0 1 1 *")
        assert sorted(await queue.list_recurring_jobs()) == ["cron", "tick"]
        with trio.fail_after(20):
            await workers.wait_until(lambda: _starts(workers, "poison") == 3)
            await auditors.wait_until(lambda: bool(_ticks(auditors)))
            await queue.cancel_recurring("tick")
            await others.wait_finished(1)
            await wait_until(lambda: _failed_recorded(queue))
        failed = await queue.get_failed_jobs()
        assert [(f.id, f.group, f.attempts) for f in failed] == [("poison", "workers", 2)]
        assert await queue.retry_failed_job("poison", "workers")
        with trio.fail_after(20):
            await workers.wait_until(lambda: _starts(workers, "poison") == 6)
            await wait_until(lambda: _failed_recorded(queue))
            await wait_until(lambda: _settled(queue))
        assert await queue.drop_failed_jobs() == 1
        assert await queue.get_failed_jobs() == []
        details = await queue.get_recurring_job_details("cron")
        assert details is not None
        assert details.next_run_at is not None
        assert (details.next_run_at.month, details.next_run_at.day) == (1, 1)
        assert await queue.list_recurring_jobs() == ["cron"]
        await queue.enqueue("left", job_id="left", start_delay=1000)
    ticks = _ticks(auditors)
    assert ticks
    assert _ticks(workers) == ticks
    plain = {f"job{i}" for i in range(5)} | {"later"}
    assert _succeeded(workers) == plain | ticks
    assert _succeeded(auditors) == plain | ticks | {"poison"}
    assert sorted((d.job.data for d in auditors.deliveries if d.job.id in plain), key=str) == [
        0,
        1,
        2,
        3,
        4,
        "later",
    ]
    assert others.data == ["elsewhere"]
    assert [job.id for job in await queue.export_pending()] == ["left"]
    # every key of a queue is on the node owning its slot; the seed node holds none (but
    # maybe the prefix's record of queue names, outside every queue's hash tag)
    registry = f"{prefix}:queues".encode()
    seen = [
        list(node.command("KEYS", f"{prefix}:*"))
        for node in (owner_a, owner_b, redis_cluster.servers[0])
    ]
    assert sum(keys.count(registry) for keys in seen) == 1
    keys_a, keys_b, keys_seed = ([k for k in keys if k != registry] for keys in seen)
    assert keys_a
    assert keys_b
    assert all(k.startswith(f"{prefix}:{{{name_a}}}:".encode()) for k in keys_a)
    assert all(k.startswith(f"{prefix}:{{{name_b}}}:".encode()) for k in keys_b)
    assert keys_seed == []

    store = RedisConfigStore(config)
    await store.set("manager", 3, {"backend": "redis"})
    assert await store.get("manager") == (3, {"backend": "redis"})


def _starts(log: DeliveryLog[Any], job_id: str) -> int:
    return sum(d.job.id == job_id for d in log.deliveries)


def _ticks(log: DeliveryLog[Any]) -> set[str]:
    return {d.job.id for d in log.deliveries if d.job.id.startswith("tick:")}


def _succeeded(log: DeliveryLog[Any]) -> set[str]:
    return {d.job.id for d in log.deliveries if not d.failed}


async def _failed_recorded(queue: RedisQueue[Any]) -> bool:
    return len(await queue.get_failed_jobs()) == 1


async def _settled(queue: RedisQueue[Any]) -> bool:
    stats = await queue.get_stats()
    return (stats.pending, stats.processing) == (0, 0)


def test_cluster_mode_refuses_a_database_number() -> None:
    """A cluster has only database 0: a URL naming another is a config error."""
    with pytest.raises(ValueError, match="only database 0"):
        RedisQueueConfig(url="redis://127.0.0.1:7000/2", cluster=True)
    assert RedisQueueConfig(url="redis://127.0.0.1:7000/0", cluster=True).cluster
    with pytest.raises(TypeError):
        RedisQueueConfig(cluster=1)  # type: ignore[arg-type]
