"""RedisConfigStore.set is a compare-and-set on the version, like the other stores."""

from __future__ import annotations

import pytest

from checkqueue_actors._stores import StaleVersionError
from checkqueue_actors.redis import RedisConfigStore, RedisQueueConfig


async def test_redis_store_set_is_a_compare_and_set(redis_config: RedisQueueConfig) -> None:
    """Two store objects on one server: a stale or unexpected version writes nothing."""
    first, second = RedisConfigStore(redis_config), RedisConfigStore(redis_config)
    await first.set("queue:active", 1, {"plugin_id": "a"}, expected_version=0)
    with pytest.raises(StaleVersionError, match="expected version 0, but another writer"):
        await second.set("queue:active", 1, {"plugin_id": "b"}, expected_version=0)
    await second.set("queue:active", 1, {"plugin_id": "c"})  # the same version: replaced
    await second.set("queue:active", 2, {"plugin_id": "d"}, expected_version=1)
    with pytest.raises(StaleVersionError, match=r"already holds a higher version \(2\)"):
        await first.set("queue:active", 1, {"plugin_id": "e"})
    assert await first.get("queue:active") == (2, {"plugin_id": "d"})
    with pytest.raises(ValueError, match="expected_version must be an int"):
        await first.set("queue:active", 3, {}, expected_version="2")  # type: ignore[arg-type]
    assert await first.get("queue:active") == (2, {"plugin_id": "d"})
