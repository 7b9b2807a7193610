"""A recurring occurrence that was claimed and then given back (released) counts as
not started: cancelling or replacing its schedule drops it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from checkqueue_actors._storage import ScheduleSpec, Settle

if TYPE_CHECKING:
    from ._server import RedisServer

pytestmark = pytest.mark.redis


async def test_cancel_recurring_drops_a_released_occurrence(redis_server: RedisServer) -> None:
    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueueConfig

    config = RedisQueueConfig(url=redis_server.url, key_prefix=f"r{uuid.uuid4().hex[:8]}")
    storage = RedisStorage("q", config, None)
    await storage.open()
    try:
        await storage.register_group("g", 0)
        spec = ScheduleSpec(
            job_id="tick",
            data=storage.encode("x"),
            priority=0,
            interval_seconds=3600,
            cron=None,
            first_delay=0.0,
            step=3600.0,
        )
        assert await storage.schedule(spec)
        await storage.advance()  # the first occurrence is due at once
        (delivery,) = await storage.receive_claim(await storage.send_claim("g", 1, ()))
        assert delivery.job is not None
        assert delivery.job.id.startswith("tick:")
        assert await storage.settle([(delivery, Settle.RELEASE, None)]) == []
        assert (await storage.stats()).pending == 1  # given back: waiting again
        assert await storage.cancel_schedule("tick")
        assert (await storage.stats()).pending == 0  # never started: dropped
    finally:
        await storage.close()
