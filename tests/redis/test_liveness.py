"""Process liveness in the Redis storage: a process that stops saying it is alive
loses its deliveries at once; a pause of the server is nobody's death."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._storage import NewJob

if TYPE_CHECKING:
    from ._server import RedisServer

pytestmark = pytest.mark.redis


def _storages(server: RedisServer) -> tuple[Any, Any]:
    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueueConfig

    config = RedisQueueConfig(
        url=server.url,
        key_prefix=f"l{uuid.uuid4().hex[:8]}",
        liveness_seconds=0.5,
        lease_seconds=30,
        stream_timeout=1.0,
    )
    return RedisStorage("q", config, None), RedisStorage("q", config, None)


async def _one_claimed_by_b(a: Any, b: Any) -> Any:
    await a.open()
    await b.open()
    await a.register_group("g", 0)
    await a.enqueue(NewJob("j", a.encode(1), 0, 0.0))
    await b.heartbeat()
    await a.heartbeat()
    (delivery,) = await b.receive_claim(await b.send_claim("g", 1, ()))
    return delivery


async def test_a_silent_process_loses_its_deliveries(redis_server: RedisServer) -> None:
    a, b = _storages(redis_server)
    try:
        delivery = await _one_claimed_by_b(a, b)
        for _ in range(8):  # a speaks for 0.8 s; b (holding the job) says nothing
            await trio.sleep(0.1)
            await a.heartbeat()
        stats = await a.stats()
        assert (stats.pending, stats.processing) == (1, 0)
        assert await b.renew([delivery]) == [delivery]  # its lease was taken back
    finally:
        await b.close()  # in the reverse order of opening: each holds a task group
        await a.close()


async def test_a_server_pause_is_nobodys_death(redis_server: RedisServer) -> None:
    a, b = _storages(redis_server)
    try:
        delivery = await _one_claimed_by_b(a, b)
        redis_server.pause()
        try:
            await trio.sleep(1.5)  # three liveness periods in which nobody could speak
        finally:
            redis_server.resume()
        await a.heartbeat()  # the first to speak after the pause
        stats = await a.stats()
        assert (stats.pending, stats.processing) == (0, 1)
        assert await b.renew([delivery]) == []
    finally:
        await b.close()  # in the reverse order of opening: each holds a task group
        await a.close()


async def test_a_clean_stop_is_nobodys_death(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A process that stops holding nothing leaves the living: past its liveness
    deadline, nobody reports it as a process that stopped answering."""
    a, b = _storages(redis_server)
    try:
        await a.open()
        await b.open()
        await a.register_group("g", 0)
        await b.heartbeat()
        await a.heartbeat()
    finally:
        await b.close()
    try:
        with caplog.at_level("WARNING", logger="checkqueue_actors"):
            for _ in range(8):  # 0.8 s: past b's deadline (0.5 s)
                await trio.sleep(0.1)
                await a.heartbeat()
        assert "stopped answering" not in caplog.text
    finally:
        await a.close()


async def test_a_stop_that_keeps_a_lease_is_a_death(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A process that closes while it still holds a delivery does not leave: its
    delivery comes back as a dead process's does, within about liveness_seconds."""
    a, b = _storages(redis_server)
    try:
        await _one_claimed_by_b(a, b)
    finally:
        await b.close()
    try:
        with caplog.at_level("WARNING", logger="checkqueue_actors"):
            for _ in range(8):
                await trio.sleep(0.1)
                await a.heartbeat()
        stats = await a.stats()
        assert (stats.pending, stats.processing) == (1, 0)
        assert "1 process(es) stopped answering" in caplog.text
    finally:
        await a.close()
