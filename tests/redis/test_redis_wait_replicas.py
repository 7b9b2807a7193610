"""``RedisQueueConfig.wait_replicas`` on one master with one replica (``--replicaof``).

An enqueue returns once the replica has its write (``WAIT`` on the connection that
ran the script, sent with it); when the replica does not confirm in time, the
enqueue raises BackendUnavailableError and the job stays on the master, so a retry
with the same job id stores nothing twice.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import BackendUnavailableError
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

from ._server import RedisServer, start_replica

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def replica(redis_server: RedisServer, tmp_path: Path) -> Iterator[RedisServer]:
    """A replica of the test's server, linked, stopped afterwards."""
    server = start_replica(redis_server, tmp_path / "replica")
    try:
        yield server
    finally:
        server.stop()


def _config(master: RedisServer, **overrides: Any) -> RedisQueueConfig:
    return RedisQueueConfig(
        url=master.url,
        key_prefix=f"t{uuid.uuid4().hex[:8]}",
        connect_timeout=1.0,
        stream_timeout=2.0,
        poll_interval_ms=200,
        wait_replicas=1,
        wait_timeout_ms=200,
        **overrides,
    )


async def test_an_enqueue_returns_once_the_replica_has_it(
    redis_server: RedisServer, replica: RedisServer
) -> None:
    """With ``wait_replicas=1`` the replica holds every job an enqueue acknowledged;
    with the replica paused the enqueue raises, the job stays on the master, and the
    retry with its id (replica back) succeeds without storing it twice."""
    config = _config(redis_server)
    base = f"{config.key_prefix}:{{q}}:"
    with trio.fail_after(20):
        async with RedisQueue[Any]("q", config) as queue:
            # the first call of a script is NOSCRIPT then EVAL: both with their WAIT
            assert await queue.enqueue("a", job_id="a") == "a"
            assert replica.command("EXISTS", f"{base}j:a") == 1
            assert await queue.enqueue_many(["b", "c"], job_ids=["b", "c"]) == ["b", "c"]
            assert replica.command("EXISTS", f"{base}j:b", f"{base}j:c") == 2
            replica.pause()
            try:
                started = trio.current_time()
                with pytest.raises(BackendUnavailableError, match="not confirmed by 1") as info:
                    await queue.enqueue("d", job_id="d")
                assert trio.current_time() - started >= 0.19
                assert "same job_id is safe" in str(info.value)
                with pytest.raises(BackendUnavailableError, match="not confirmed by 1"):
                    await queue.enqueue_many(["e"], job_ids=["e"])
            finally:
                replica.resume()
            assert redis_server.command("EXISTS", f"{base}j:d", f"{base}j:e") == 2
            assert await queue.enqueue("d", job_id="d") == "d"
            assert await queue.enqueue_many(["e"], job_ids=["e"]) == ["e"]
            assert replica.command("EXISTS", f"{base}j:d", f"{base}j:e") == 2
            assert (await queue.get_stats()).pending == 5


async def test_without_a_replica_every_waiting_enqueue_raises(
    redis_server: RedisServer,
) -> None:
    """``wait_replicas`` counts replicas that confirm: a master without enough makes
    every enqueue raise (the job is stored all the same)."""
    config = _config(redis_server)
    queue = RedisQueue[Any]("q", config)
    with trio.fail_after(20):
        async with queue:
            with pytest.raises(BackendUnavailableError, match="not confirmed by 1"):
                await queue.enqueue("a", job_id="a")
        assert (await queue.get_stats()).pending == 1


def test_wait_replicas_and_its_timeout_are_checked() -> None:
    """Both fields are ints in range: 0..100 replicas, 1 ms .. 1 h."""
    assert RedisQueueConfig().wait_replicas == 0
    assert RedisQueueConfig(wait_replicas=2, wait_timeout_ms=50).wait_timeout_ms == 50
    with pytest.raises(ValueError, match="wait_replicas"):
        RedisQueueConfig(wait_replicas=-1)
    with pytest.raises(TypeError, match="wait_replicas"):
        RedisQueueConfig(wait_replicas=True)
    with pytest.raises(ValueError, match="wait_timeout_ms"):
        RedisQueueConfig(wait_timeout_ms=0)
    with pytest.raises(TypeError, match="wait_timeout_ms"):
        RedisQueueConfig(wait_timeout_ms=0.5)  # type: ignore[arg-type]
