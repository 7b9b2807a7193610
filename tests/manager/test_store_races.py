"""Config stores are compare-and-set on the version, across tasks, store objects and
processes; two managers switching at the same instant end on one backend, losing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    FileConfigStore,
    MemoryConfigStore,
    QueueError,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
)
from checkqueue_actors._manager import ACTIVE_KEY
from checkqueue_actors._stores import StaleVersionError

if TYPE_CHECKING:
    from pathlib import Path

    from checkqueue_actors import QueueManager


def _stores(tmp_path: Path) -> list[Any]:
    return [MemoryConfigStore(), FileConfigStore(tmp_path / "store.json")]


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_set_is_a_compare_and_set_on_the_version(tmp_path: Path, kind: str) -> None:
    """A lower version, or another version than the expected one, raises StaleVersionError
    and writes nothing; the same version may be written again (a plugin's config)."""
    store = _stores(tmp_path)[0 if kind == "memory" else 1]
    await store.set("k", 1, {"a": 1}, expected_version=0)  # 0: the key was never set
    with pytest.raises(StaleVersionError) as info:
        await store.set("k", 1, {"a": 2}, expected_version=0)
    assert isinstance(info.value, QueueError)
    assert (info.value.key, info.value.current_version) == ("k", 1)
    assert "expected version 0, but another writer left version 1" in str(info.value)
    await store.set("k", 1, {"a": 3})  # same version, no expectation: replaced
    await store.set("k", 4, {"a": 4}, expected_version=1)
    with pytest.raises(StaleVersionError, match=r"already holds a higher version \(4\)"):
        await store.set("k", 3, {"a": 5})
    assert await store.get("k") == (4, {"a": 4})
    with pytest.raises(ValueError, match="expected_version must be an int or None"):
        await store.set("k", 5, {}, expected_version="4")
    assert await store.get("k") == (4, {"a": 4})


async def test_two_file_store_objects_on_one_file_see_each_others_writes(
    tmp_path: Path,
) -> None:
    """Independent objects on the same file: the second's stale write is refused."""
    first = FileConfigStore(tmp_path / "store.json")
    second = FileConfigStore(tmp_path / "store.json")
    await first.set(ACTIVE_KEY, 1, {"plugin_id": "a"}, expected_version=0)
    with pytest.raises(StaleVersionError):
        await second.set(ACTIVE_KEY, 1, {"plugin_id": "b"}, expected_version=0)
    assert await second.get(ACTIVE_KEY) == (1, {"plugin_id": "a"})


_INCREMENTER = textwrap.dedent(
    """
    import sys, trio
    from checkqueue_actors import FileConfigStore
    from checkqueue_actors._stores import StaleVersionError

    async def main(path: str, count: int) -> None:
        store = FileConfigStore(path)
        done = stale = 0
        while done < count:
            entry = await store.get("counter")
            version = 0 if entry is None else entry[0]
            total = 0 if entry is None else entry[1]["total"]
            try:
                await store.set("counter", version + 1, {"total": total + 1},
                                expected_version=version)
            except StaleVersionError:
                stale += 1
                continue
            done += 1
        print(stale)

    trio.run(main, sys.argv[1], int(sys.argv[2]))
    """
)


def test_processes_sharing_a_file_store_lose_no_update(tmp_path: Path) -> None:
    """Three processes increment one counter by compare-and-set: every increment lands."""
    path = tmp_path / "store.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    per_process = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _INCREMENTER, str(path), str(per_process)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    store = FileConfigStore(path)
    assert trio.run(store.get, "counter") == (3 * per_process, {"total": 3 * per_process})


class _SameInstantStore:
    """A store on which both managers read ``"queue:active"`` before either writes it."""

    def __init__(self) -> None:
        self.inner = MemoryConfigStore()
        self.armed = False
        self._arrived = 0
        self._go = trio.Event()

    async def get(self, key: str) -> tuple[int, dict[str, Any]] | None:
        return await self.inner.get(key)

    async def set(self, key: str, version: int, value: dict[str, Any], **kwargs: Any) -> None:
        if self.armed and key == ACTIVE_KEY:
            self._arrived += 1
            if self._arrived == 2:
                self._go.set()
            await self._go.wait()
        await self.inner.set(key, version, value, **kwargs)


async def test_two_managers_switching_at_the_same_instant_end_on_one_backend(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Both read version 0 and switch; only one write of version 1 lands, the other saves
    version 2 over it, and polling brings the first manager to it. Every job runs once."""
    store = _SameInstantStore()
    runs: Counter[str] = Counter()

    async def handler(job: QueueJob[str]) -> None:
        runs[job.id] += 1

    with trio.fail_after(600):
        async with (
            open_queue_manager(registry, config_store=store) as first,
            open_queue_manager(registry, config_store=store) as second,
        ):
            for name, manager in (("a", first), ("b", second)):
                proxy = manager.get_queue(f"work-{name}")
                await proxy.consume(handler, consumer_group="g")
                for i in range(5):
                    await proxy.enqueue(name, job_id=f"{name}{i}", start_delay=20 + i)
            first.start_polling(interval_ms=1000)
            second.start_polling(interval_ms=1000)
            store.armed = True

            async def switch(manager: QueueManager, plugin_id: str) -> None:
                result = await manager.set_active_backend(plugin_id, None)
                assert result.success
                assert result.migrated_pending_jobs == 5

            async with trio.open_nursery() as nursery:
                nursery.start_soon(switch, first, "memory2")
                nursery.start_soon(switch, second, "memory-v2")
            stored = await store.get(ACTIVE_KEY)
            assert stored is not None
            assert stored[0] == 2
            await trio.sleep(3)  # a poll or two
            assert first.get_active_plugin() == second.get_active_plugin() == stored[1]["plugin_id"]
            assert first.version == second.version == 2
            await trio.sleep(30)
    assert runs == Counter({f"{name}{i}": 1 for name in "ab" for i in range(5)})
