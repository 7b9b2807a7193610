"""Fixtures of the Redis tier: a throwaway redis-server per test, queue factories.

Without any redis-server binary the tier skips locally, but fails under CI=true.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ._server import RedisServer, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from checkqueue_actors.redis import RedisQueue


def _require_binary() -> None:
    if find_redis_server() is None:
        if os.environ.get("CI"):
            pytest.fail("no redis-server binary: install redis-server or the test extra")
        pytest.skip("no redis-server binary found (install the 'test' extra)")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port (no persistence)."""
    _require_binary()
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the requesting module's own, for all its tests: its command
    counters see only that module's tests (a module may define its own instead)."""
    _require_binary()
    server = RedisServer(tmp_path_factory.mktemp("module-server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """One queue per test: its own key prefix on the module's server."""
    return f"p{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_config(redis_server: RedisServer) -> Any:
    """A fast-timing config for the test server with a unique key prefix."""
    from checkqueue_actors.redis import RedisQueueConfig

    return RedisQueueConfig(
        url=redis_server.url,
        key_prefix=f"t{uuid.uuid4().hex[:8]}",
        delay_multiplier=0.01,
        lease_seconds=1.0,
        connect_timeout=1.0,
        stream_timeout=2.0,
        poll_interval_ms=200,
    )


@pytest.fixture
def make_queue(redis_config: Any) -> Callable[..., RedisQueue[Any]]:
    """Build RedisQueues on the test server; keyword arguments override the config."""
    import attrs

    from checkqueue_actors.redis import RedisQueue

    def make(name: str = "q", **overrides: Any) -> RedisQueue[Any]:
        payload_type = overrides.pop("payload_type", None)
        return RedisQueue(name, attrs.evolve(redis_config, **overrides), payload_type=payload_type)

    return make
