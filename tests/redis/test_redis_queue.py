"""Redis-specific behaviour: payloads, connection errors, leases, stalls, the failed-jobs
record, durability across restarts of the queue, key layout, abandoned groups, the store."""

from __future__ import annotations

import json
import math
import signal
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio

from checkqueue_actors import (
    BackendUnavailableError,
    ConfigValidationError,
    QueueJob,
    SerializationError,
    parse_config,
)
from checkqueue_actors.redis import (
    RedisConfigStore,
    RedisQueue,
    RedisQueueConfig,
    RedisQueuePlugin,
)
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

from ._server import RedisServer, free_port

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _keys(server: RedisServer) -> list[str]:
    return sorted(k.decode() for k in server.command("KEYS", "*"))


# -- payloads ---------------------------------------------------------------------------------


@attrs.frozen
class Email:
    to: str
    subject: str
    tags: list[str] = attrs.field(factory=list[str])


async def test_unencodable_payload_raises_and_stores_nothing(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """Sets, objects and NaN are refused with SerializationError before anything is written."""
    async with make_queue() as queue:
        before = redis_server.command("DBSIZE")
        for bad in ({1, 2}, object(), math.nan, {"x": math.inf}, b"bytes"):
            with pytest.raises(SerializationError, match="cannot be encoded as JSON"):
                await queue.enqueue(bad, job_id="same")
        assert redis_server.command("DBSIZE") == before
        assert (await queue.get_stats()).pending == 0


async def test_payload_size_limit_counts_utf8_bytes_of_the_json(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """Exactly max_payload_bytes is accepted; one byte more is refused and nothing stored."""
    async with make_queue(max_payload_bytes=12) as queue:
        at_cap = "é" * 5  # '"' + 10 bytes + '"' = 12 bytes of JSON
        assert len(json.dumps(at_cap, ensure_ascii=False).encode()) == 12
        await queue.enqueue(at_cap)
        dbsize = redis_server.command("DBSIZE")
        with pytest.raises(SerializationError, match="over max_payload_bytes=12"):
            await queue.enqueue(at_cap + "x")
        assert redis_server.command("DBSIZE") == dbsize
        assert (await queue.get_stats()).pending == 1


async def test_typed_payloads_round_trip_through_cattrs(redis_config: RedisQueueConfig) -> None:
    """payload_type=attrs class: handlers get instances back, never pickled."""
    queue = RedisQueue[Email]("typed", redis_config, payload_type=Email)
    log: DeliveryLog[Email] = DeliveryLog()
    async with queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue(Email("a@b.c", "hi", ["x"]))
        with trio.fail_after(10):
            await log.wait_finished(1)
    assert log.data == [Email("a@b.c", "hi", ["x"])]
    with pytest.raises(TypeError, match="attrs class"):
        RedisQueue("bad", redis_config, payload_type=dict)


async def test_undecodable_payload_fails_without_retries(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """A payload written by someone else that is not JSON goes to the failed record at once."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue() as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g", max_retries=3)
        await queue.enqueue({"ok": 1}, job_id="bad")
        await queue.enqueue({"ok": 2}, job_id="good", start_delay=50)  # 0.5 s
        # corrupt the stored payload behind the queue's back
        await trio.to_thread.run_sync(
            redis_server.command, "HSET", f"{queue.key_base}j:good", "d", b"\x80not json"
        )
        with trio.fail_after(10):
            await wait_until(lambda: _failed_count(queue))
        failed = await queue.get_failed_jobs()
        assert [(f.id, f.attempts) for f in failed] == [("good", 0)]
        assert "undecodable payload" in failed[0].error
        assert log.ids == ["bad"]


async def _failed_count(queue: RedisQueue[Any]) -> bool:
    return (await queue.get_stats()).failed >= 1


# -- configuration and connection errors -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://localhost:6379", "must start with redis://"),
        ("redis://", "no host"),
        ("redis://localhost:99999", "invalid Redis URL"),
        ("redis://localhost/abc", "database number"),
        ("redis://localhost/0?ssl_cert_reqs=none", "options are not supported"),
    ],
)
def test_bad_urls_are_value_errors(url: str, match: str) -> None:
    """A bad URL raises ValueError at config time, ConfigValidationError through parse_config."""
    with pytest.raises(ValueError, match=match):
        RedisQueueConfig(url=url)
    with pytest.raises(ConfigValidationError, match="url"):
        parse_config(RedisQueuePlugin(), {"url": url})


def test_config_parses_strictly_and_hides_the_password() -> None:
    """Unknown keys and wrong types are errors; repr never shows the password."""
    config = parse_config(
        RedisQueuePlugin(), {"url": "redis://app:s3cret@example:7000/2", "lease_seconds": 5}
    )
    assert config.lease_seconds == 5.0
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigValidationError) as info:
        parse_config(RedisQueuePlugin(), {"concurrency": "5", "bogus": 1, "key_prefix": "a{b}"})
    assert len(info.value.errors) == 3
    assert "s3cret" not in repr(RedisQueueConfig(password="s3cret"))


async def test_unreachable_server_raises_backend_unavailable_with_the_address() -> None:
    """test_connection and every call raise BackendUnavailableError naming the address only."""
    port = free_port()
    config = RedisQueueConfig(
        url=f"redis://user:hunter2@127.0.0.1:{port}/0", connect_timeout=0.5, stream_timeout=0.5
    )
    queue = RedisQueue[Any]("down", config)
    with pytest.raises(BackendUnavailableError) as info:
        await queue.test_connection()
    assert info.value.address == f"redis://user@127.0.0.1:{port}/0"
    assert "hunter2" not in str(info.value)
    async with queue:  # starting does not need the server; calls fail fast
        with pytest.raises(BackendUnavailableError):
            await queue.enqueue("x")
        with pytest.raises(BackendUnavailableError):
            await queue.get_stats()


async def test_wrong_password_is_backend_unavailable(tmp_path: Path) -> None:
    """A WRONGPASS reply becomes BackendUnavailableError; the right password connects."""
    server = RedisServer(tmp_path / "auth", password="right").start()
    try:
        bad = RedisQueue[Any]("q", RedisQueueConfig(url=server.url, password="wrong"))
        with pytest.raises(BackendUnavailableError) as info:
            await bad.test_connection()
        assert "wrong" not in str(info.value).replace("WRONGPASS", "")
        good = RedisQueue[Any]("q", RedisQueueConfig(url=server.url, password="right"))
        await good.test_connection()
    finally:
        server.stop()


async def test_test_connection_works_before_during_and_after_running(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """A manager probes candidates this way, started or not."""
    queue = make_queue()
    await queue.test_connection()
    async with queue:
        await queue.test_connection()
    await queue.test_connection()


# -- layout and durability ---------------------------------------------------------------------


async def test_every_key_starts_with_the_prefix_and_shares_the_hash_tag(
    make_queue: Callable[..., RedisQueue[Any]],
    redis_server: RedisServer,
    redis_config: RedisQueueConfig,
) -> None:
    """Prefixes isolate apps; all keys of a queue share one cluster hash slot."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue("we{ir}d:name") as queue:
        await queue.consume(RecordingHandler(log=log, fail_times=1), consumer_group="g")
        await queue.enqueue(1)
        await queue.enqueue(2, start_delay=100)
        await queue.schedule_recurring(3, job_id="r", interval_seconds=100)
        with trio.fail_after(10):
            await log.wait_finished(3)
    keys = _keys(redis_server)
    # one key of the prefix lies outside every queue's hash tag: the names of its queues
    registry = f"{redis_config.key_prefix}:queues"
    assert registry in keys
    keys = [k for k in keys if k != registry]
    assert keys
    prefix = f"{redis_config.key_prefix}:{{we%7Bir%7Dd:name}}:"
    assert all(k.startswith(prefix) for k in keys), keys
    # the hash tag (text between the first "{" and the next "}") is the same for all
    tags = {k[k.index("{") + 1 : k.index("}", k.index("{"))] for k in keys}
    assert tags == {"we%7Bir%7Dd:name"}


async def test_pending_jobs_survive_a_restart_of_the_queue(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """stop() keeps pending jobs in Redis; the next queue of that name runs them."""
    async with make_queue() as queue:
        await queue.consume(RecordingHandler[Any](), consumer_group="g")
    async with make_queue() as queue:
        for i in range(5):
            await queue.enqueue(i, priority=i)
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=1) as queue:
        assert (await queue.get_stats()).pending == 5
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        with trio.fail_after(10):
            await log.wait_finished(5)
    assert log.data == [4, 3, 2, 1, 0]


async def test_prefixes_isolate_queues_of_the_same_name(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Two apps with different prefixes on one server never see each other's jobs."""
    log_a: DeliveryLog[Any] = DeliveryLog()
    log_b: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(key_prefix="appa") as a, make_queue(key_prefix="appb") as b:
        await a.consume(RecordingHandler(log=log_a), consumer_group="g")
        await b.consume(RecordingHandler(log=log_b), consumer_group="g")
        await a.enqueue("for-a")
        await b.enqueue("for-b")
        with trio.fail_after(10):
            await log_a.wait_finished(1)
            await log_b.wait_finished(1)
        await trio.sleep(0.2)
        assert (await a.get_stats()).completed == 1
    assert log_a.data == ["for-a"]
    assert log_b.data == ["for-b"]


# -- leases, stalls, failed record -------------------------------------------------------------


async def _claim_as_dead_process(queue: RedisQueue[Any], group: str) -> list[Any]:
    """Claim like a process that then dies: the lease is held by nobody alive."""
    from checkqueue_actors._backends.redis._clients import make_client
    from checkqueue_actors._backends.redis._scripts import SCRIPTS

    async with make_client(queue.config) as client:
        return list(
            await SCRIPTS["claim"](client, queue.key_base, 100, 300, "dead-process", 1, group)
        )


async def test_a_dead_holders_delivery_is_redelivered_after_its_lease(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """At-least-once: a delivery claimed by a process that died is reclaimed and run."""
    async with make_queue() as queue:
        await queue.consume(RecordingHandler[Any](), consumer_group="g")  # the durable group
    async with make_queue() as producer:
        await producer.enqueue("job", job_id="j1")
    claimed = await _claim_as_dead_process(producer, "g")
    assert [c.decode() for c in claimed[3::8]] == ["j1"]
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(lease_seconds=0.5) as queue:
        assert (await queue.get_stats()).processing == 1
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        with trio.fail_after(10):
            await log.wait_finished(1)
            await wait_until(lambda: _completed_at_least(queue, 1))
        stats = await queue.get_stats()
    assert log.ids == ["j1"]
    assert (stats.pending, stats.processing, stats.failed) == (0, 0, 0)


async def test_a_job_that_keeps_killing_its_worker_fails_after_the_stall_limit(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """After max_stalls expired leases the delivery is failed as stalled, not retried forever."""
    async with make_queue() as queue:
        await queue.consume(RecordingHandler[Any](), consumer_group="g")
    await queue.test_connection()
    async with make_queue(max_stalls=2, lease_seconds=0.3) as reaper:
        await reaper.enqueue("poison", job_id="poison")
        deliveries = 0
        with trio.fail_after(20):
            while (await reaper.get_stats()).failed == 0:
                deliveries += len(await _claim_as_dead_process(reaper, "g")) // 7
                await trio.sleep(0.05)
        failed = await reaper.get_failed_jobs()
    assert deliveries == 3  # max_stalls + 1
    assert [(f.id, f.group) for f in failed] == [("poison", "g")]
    assert failed[0].error.startswith("stalled")


async def test_long_handlers_keep_their_lease(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """A handler running for several leases is not redelivered (the lease is renewed)."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(lease_seconds=0.3) as queue:
        await queue.consume(RecordingHandler(log=log, duration=1.2), consumer_group="g")
        await queue.enqueue("long")
        with trio.fail_after(10):
            await log.wait_finished(1)
        await trio.sleep(0.5)
        stats = await queue.get_stats()
    assert len(log) == 1
    assert (stats.completed, stats.failed) == (1, 0)


async def test_acks_ending_leases_are_not_reported_as_lost_leases(
    make_queue: Callable[..., RedisQueue[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """Acks written while the renewer renews: a lease ended by its ack is not "lost"."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(lease_seconds=0.5, concurrency=10, max_queue_size=10_000) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        for start in range(0, 6000, 1000):
            await queue.enqueue_many(range(start, start + 1000))
        with trio.fail_after(60):
            await log.wait_finished(6000)
            await wait_until(lambda: _completed_at_least(queue, 6000))
    lost = [m for r in caplog.records if "lease" in (m := r.getMessage()) and "lost" in m]
    assert lost == []
    assert sorted(log.data) == list(range(6000))


async def test_claims_recover_when_the_server_forgets_its_scripts(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """SCRIPT FLUSH while consuming: claims answered NOSCRIPT are sent again whole."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=4) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue("before")
        with trio.fail_after(10):
            await log.wait_finished(1)
        for round_ in range(3):
            redis_server.command("SCRIPT", "FLUSH")
            for i in range(20):
                await queue.enqueue(f"after-{round_}-{i}")
        with trio.fail_after(20):
            await log.wait_finished(61)
            await wait_until(lambda: _completed_at_least(queue, 61))
    assert len(set(log.data)) == 61


@pytest.mark.parametrize("group", ["g", "grüppe:ü"])
async def test_failed_jobs_record_can_be_read_retried_and_dropped(
    make_queue: Callable[..., RedisQueue[Any]], group: str
) -> None:
    """Exhausted deliveries are recorded with group, error and attempts; retry and drop
    work (also for a group name whose UTF-8 length differs from its length in chars)."""
    log: DeliveryLog[Any] = DeliveryLog()
    failing = {"a", "b"}
    handler = RecordingHandler(log=log, fail_when=lambda job: job.id in failing)
    async with make_queue(failed_jobs_max=5) as queue:
        await queue.consume(handler, consumer_group=group, max_retries=1)
        await queue.enqueue({"n": 1}, job_id="a")
        await queue.enqueue({"n": 2}, job_id="b")
        with trio.fail_after(10):
            await wait_until(lambda: _failed_at_least(queue, 2))
        failed = {f.id: f for f in await queue.get_failed_jobs()}
        assert set(failed) == {"a", "b"}
        assert failed["a"].group == group
        assert failed["a"].attempts == 1
        assert failed["a"].data == {"n": 1}
        assert "HandlerFailure" in failed["a"].error
        failing.discard("a")
        assert await queue.retry_failed_job("a", group)
        assert not await queue.retry_failed_job("a", group)  # no longer recorded
        with trio.fail_after(10):
            await log.wait_until(lambda: log.ids.count("a") == 3)
            await wait_until(lambda: _completed_at_least(queue, 1))
        assert [f.id for f in await queue.get_failed_jobs()] == ["b"]
        assert await queue.drop_failed_jobs([("b", group)]) == 1
        assert await queue.get_failed_jobs() == []


async def _failed_at_least(queue: RedisQueue[Any], n: int) -> bool:
    return (await queue.get_stats()).failed >= n


async def _completed_at_least(queue: RedisQueue[Any], n: int) -> bool:
    return (await queue.get_stats()).completed >= n


async def test_stop_releases_claimed_unstarted_deliveries_at_once(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Deliveries claimed but not started when stop() comes are back in Redis right away."""
    gate = trio.Event()
    log: DeliveryLog[Any] = DeliveryLog()
    queue = make_queue(concurrency=3, lease_seconds=30.0)
    async with queue:
        await queue.consume(RecordingHandler(log=log, gate=gate), consumer_group="g")
        for i in range(3):
            await queue.enqueue(i, priority=-i)
        with trio.fail_after(10):
            await log.wait_for(1)
        # handler 0 runs; 1 and 2 are claimed and wait for their turn to start
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.stop)
            await trio.sleep(0.2)
            gate.set()
    other: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(lease_seconds=30.0) as again:
        await again.consume(RecordingHandler(log=other), consumer_group="g")
        with trio.fail_after(5):  # well under the 30 s lease
            await other.wait_finished(len(log) and 3 - len(log))
    assert sorted(log.data + other.data) == [0, 1, 2]


async def test_abandoned_groups_are_removed_with_their_backlog(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """A group none of whose consumers was seen for group_abandon_seconds is removed."""
    async with make_queue() as queue:
        await queue.consume(RecordingHandler[Any](), consumer_group="gone")
    async with make_queue() as queue:
        await queue.enqueue("x")
        assert (await queue.get_stats()).pending == 1
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(group_abandon_seconds=0.5, lease_seconds=0.4) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="alive")
        with trio.fail_after(10):
            await wait_until(lambda: _pending_is(queue, 0))
        await queue.enqueue("y")
        with trio.fail_after(10):
            await log.wait_finished(1)
        stats = await queue.get_stats()
    assert stats.consumer_groups == 1
    assert log.data == ["y"]


async def _pending_is(queue: RedisQueue[Any], n: int) -> bool:
    return (await queue.get_stats()).pending == n


async def test_export_pending_moves_jobs_out_of_redis(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """export_pending returns ready, delayed and orphan jobs and removes them from Redis."""
    queue = make_queue()
    async with queue:
        await queue.enqueue("a", priority=1, job_id="a")
        await queue.enqueue("b", start_delay=500, job_id="b")
    exported = await queue.export_pending()
    assert [(j.id, j.data) for j in exported] == [("a", "a"), ("b", "b")]
    assert exported[0].remaining_delay == 0
    assert 0 < exported[1].remaining_delay <= 5.0
    async with make_queue() as again:
        assert (await again.get_stats()).pending == 0
    assert not [k for k in _keys(redis_server) if ":j:" in k]


# -- outages -----------------------------------------------------------------------------------


async def test_consumers_resume_after_the_server_was_paused(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """SIGSTOP for longer than the read timeout: calls fail typed, consumers recover."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(stream_timeout=0.5, lease_seconds=5.0) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue("before")
        with trio.fail_after(10):
            await log.wait_finished(1)
        redis_server.pause()
        try:
            with pytest.raises(BackendUnavailableError):
                await queue.enqueue("during", job_id="during")
            await trio.sleep(1.0)
        finally:
            redis_server.resume()
        await queue.enqueue("during", job_id="during")  # the same id: no duplicate
        await queue.enqueue("after")
        with trio.fail_after(15):
            await log.wait_finished(3)
    assert sorted(log.data) == ["after", "before", "during"]


async def test_consumers_resume_after_a_server_restart(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """The server dies and comes back: the app does not crash and consuming resumes."""
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue() as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue(1)
        with trio.fail_after(10):
            await log.wait_finished(1)
        redis_server.kill(signal.SIGKILL)
        with pytest.raises(BackendUnavailableError):
            await queue.enqueue(2)
        await trio.sleep(0.5)
        await trio.to_thread.run_sync(redis_server.start)
        # no persistence: the group is gone with the data; registering again works
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue(3)
        with trio.fail_after(15):
            await log.wait_finished(2)
    assert log.data == [1, 3]


# -- config store ------------------------------------------------------------------------------


async def test_config_store_round_trips_versions(redis_config: RedisQueueConfig) -> None:
    """get/set of the ConfigStore protocol, shared by every manager on the server."""
    store = RedisConfigStore(redis_config)
    assert await store.get("queue:active") is None
    await store.set("queue:active", 1, {"plugin_id": "redis"})
    await store.set("redis", 1, {"url": "redis://x:1/0"})
    assert await RedisConfigStore(redis_config).get("queue:active") == (1, {"plugin_id": "redis"})
    await store.set("queue:active", 2, {"plugin_id": "memory"})
    assert await store.get("queue:active") == (2, {"plugin_id": "memory"})
    down = RedisConfigStore(RedisQueueConfig(url=f"redis://127.0.0.1:{free_port()}/0"))
    with pytest.raises(BackendUnavailableError):
        await down.get("queue:active")


def test_job_type_is_the_public_queue_job() -> None:
    """Handlers receive the package's QueueJob (same class as the memory backend's)."""
    assert QueueJob.__module__ == "checkqueue_actors"
