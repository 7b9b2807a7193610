"""The Redis backend through the public QueueStateMachine (real-time mode).

The machine's real-time mode checks safety after every step (nothing forbidden
was delivered: no unknown job, no job to a group that did not exist, no second
completion in a group whose handler succeeded) and liveness at teardown (every
expected delivery happened, counters agree).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from checkqueue_actors.redis import RedisQueue, RedisQueueConfig
from checkqueue_actors.testing.stateful import QueueStateMachine

from ._server import RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from checkqueue_actors import Queue

_SERVER_URL: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One throwaway redis-server for the module; every example uses its own key prefix."""
    from .conftest import _require_binary  # pyright: ignore[reportPrivateUsage]

    _require_binary()
    server = RedisServer(tmp_path_factory.mktemp("redis-machine")).start()
    _SERVER_URL.append(server.url)
    try:
        yield
    finally:
        _SERVER_URL.clear()
        server.stop()


class RedisMachine(QueueStateMachine):
    """Random interleavings of enqueue, consume, failures, time and stop, against Redis."""

    time_mode = "real"
    delay_multiplier = 0.01
    max_queue_size = 1000
    real_timeout = 30.0

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        config = RedisQueueConfig(
            url=_SERVER_URL[0],
            key_prefix=f"m{uuid.uuid4().hex[:10]}",
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
            lease_seconds=2.0,
            connect_timeout=1.0,
            stream_timeout=2.0,
            poll_interval_ms=200,
        )
        return RedisQueue[Any](name, config)


TestRedisMachine = RedisMachine.TestCase
TestRedisMachine.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
