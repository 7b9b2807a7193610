"""A Redis to Redis switch onto the same keys (server, database and key prefix) is refused:
its old and new queues would run on one set of jobs at once. Another prefix switches."""

from __future__ import annotations

import attrs
import pytest
import trio

from checkqueue_actors import (
    ConfigValidationError,
    InMemoryQueuePlugin,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors.redis import RedisQueueConfig, RedisQueuePlugin
from checkqueue_actors.testing import wait_until


async def test_a_switch_onto_the_same_keys_is_refused_and_keeps_the_old_backend(
    redis_config: RedisQueueConfig,
) -> None:
    """Refused with ConfigValidationError before anything is touched; jobs stay where they
    are; a switch to another key prefix then moves them, and they run once."""
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    registry.register(RedisQueuePlugin())
    runs: list[str] = []

    async def handler(job: QueueJob[str]) -> None:
        runs.append(job.id)

    with trio.fail_after(30):
        async with open_queue_manager(
            registry, default_plugin="redis", default_config=redis_config
        ) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(handler, consumer_group="g")
            for i in range(3):
                await proxy.enqueue(f"job {i}", job_id=f"j{i}", start_delay=300)
            # spelled another way (no database in the URL means 0): the same keys
            url = redis_config.url.removesuffix("/0")
            assert url != redis_config.url
            same_keys = attrs.evolve(redis_config, concurrency=3, url=url)
            with pytest.raises(ConfigValidationError) as info:
                await manager.set_active_backend("redis", same_keys)
            message = str(info.value)
            assert "keeps its queues where the active one does" in message
            assert f"key_prefix {redis_config.key_prefix!r}" in message
            assert manager.get_active_config() == redis_config
            stats = await proxy.get_stats()
            assert stats.pending == 3
            other = attrs.evolve(redis_config, key_prefix=redis_config.key_prefix + "b")
            result = await manager.set_active_backend("redis", other)
            assert result.success
            assert result.migrated_pending_jobs == 3
            assert manager.get_active_config() == other
            await proxy.enqueue("now", job_id="now")
            await wait_until(lambda: runs == ["now"], timeout=10)


def test_the_location_names_no_password() -> None:
    """The location a refusal names carries the server, database and prefix only."""
    config = RedisQueueConfig(url="redis://user:s3cret@cache.example:6380/2", key_prefix="app")
    location = RedisQueuePlugin().storage_location(config)
    assert location == "redis server cache.example:6380 database 2, key_prefix 'app'"
    assert "s3cret" not in location
    assert RedisQueuePlugin().storage_location(
        attrs.evolve(config, password="other")
    ) == RedisQueuePlugin().storage_location(config)
