"""The Redis backend through the public conformance suite (real clock, scaled delays)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from checkqueue_actors.redis import RedisQueue, RedisQueueConfig
from checkqueue_actors.testing import BulkEnqueueConformance, QueueConformanceTests

if TYPE_CHECKING:
    from checkqueue_actors import Queue
    from checkqueue_actors.testing import MakeQueue

    from ._server import RedisServer


class TestRedisConformance(BulkEnqueueConformance, QueueConformanceTests):
    """Every rule of the conformance suite against a throwaway redis-server."""

    time_mode = "real"
    real_delay_multiplier = 0.02
    real_late_tolerance = 0.6
    real_timeout = 30.0

    @pytest.fixture
    def make_queue(self, redis_server: RedisServer) -> MakeQueue:
        prefix = f"c{uuid.uuid4().hex[:8]}"

        def make(
            name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
        ) -> Queue[Any]:
            config = RedisQueueConfig(
                url=redis_server.url,
                key_prefix=prefix,
                concurrency=concurrency,
                max_queue_size=max_queue_size,
                delay_multiplier=delay_multiplier,
                lease_seconds=2.0,
                connect_timeout=1.0,
                stream_timeout=2.0,
                poll_interval_ms=200,
            )
            return RedisQueue[Any](name, config)

        return make
