"""``import checkqueue_actors`` never imports coredis; ``checkqueue_actors.redis`` does."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    return set(out.stdout.split())


def test_core_import_does_not_load_coredis() -> None:
    """The core package (and the memory backend) works without coredis installed."""
    modules = _loaded_after("import checkqueue_actors")
    assert not {m for m in modules if m == "coredis" or m.startswith("coredis.")}
    assert "checkqueue_actors.redis" not in modules


def test_redis_module_loads_coredis_and_exports_its_public_names() -> None:
    """``checkqueue_actors.redis`` is the one place coredis comes in."""
    modules = _loaded_after("import checkqueue_actors.redis")
    assert "coredis" in modules
    import checkqueue_actors.redis as redis_module

    assert {"RedisQueue", "RedisQueueConfig", "RedisQueuePlugin", "RedisConfigStore"} <= set(
        redis_module.__all__
    )
    for name in redis_module.__all__:
        assert getattr(redis_module, name).__module__ == "checkqueue_actors.redis"
    assert redis_module.RedisQueuePlugin().id == "redis"
