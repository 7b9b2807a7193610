"""Redis: ``list_jobs`` reads the zsets it scans entry by entry (running, retrying,
delayed, failed: with a group, past the other groups' entries) a bounded number of
entries per script call, and goes on from the cursor the call returns; a cursor
whose entry is gone meanwhile goes on after its score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._storage import Settle

from .test_job_control_storage import claim, ids, opened, put

if TYPE_CHECKING:
    from checkqueue_actors._backends.redis._storage import RedisStorage

    from ._server import RedisServer

pytestmark = pytest.mark.redis


async def _raw(s: RedisStorage, state: str, group: str, cursor: str, examine: int) -> Any:
    """One list_jobs script call: its cursor and the ids it lists."""
    out = await s._script("list_jobs", state, group, 100, cursor, examine)  # pyright: ignore[reportPrivateUsage]
    ids = [job.id for job in s_job_infos(s, out[1:])]
    return (out[0].decode() if isinstance(out[0], bytes) else out[0]), ids


def s_job_infos(s: RedisStorage, raw: Any) -> list[Any]:
    from checkqueue_actors._backends.redis._storage import _job_infos  # pyright: ignore[reportPrivateUsage]

    return _job_infos(raw, s.codec)


async def _sparse_delayed(s: RedisStorage) -> None:
    """60 delayed jobs of group a, one of group b among them (after the 31st), and 2
    of group b due after them all."""
    await s.register_group("a", 3)
    await s.register_group("b", 3)
    for i in range(60):
        await put(s, f"a{i:02}", delay=60 + i / 10, groups=("a",))
        if i == 30:
            await put(s, "b-mid", delay=63.05, groups=("b",))
    for i in range(2):
        await put(s, f"b{i}", delay=70 + i / 10, groups=("b",))


async def test_a_sparse_group_is_listed_over_several_calls(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await _sparse_delayed(s)
        await put(s, "b-waiting", groups=("b",))
        server.command("CONFIG", "RESETSTAT")
        assert [job.id for job in await s.list_jobs("delayed", "b", 10)] == ["b-mid", "b0", "b1"]
        assert server.calls().get("evalsha", 0) == 1  # 63 entries: one call reads them all
        s._examine = 25  # pyright: ignore[reportPrivateUsage]
        server.command("CONFIG", "RESETSTAT")
        assert [job.id for job in await s.list_jobs("delayed", "b", 10)] == ["b-mid", "b0", "b1"]
        assert server.calls().get("evalsha", 0) == 3  # 25, 25 and 13 entries
        # every state: waiting first, then the delayed ones, the limit counted over calls
        for limit in (1, 2, 3, 4, 10):
            listed = [job.id for job in await s.list_jobs(None, "b", limit)]
            assert listed == ["b-waiting", "b-mid", "b0", "b1"][:limit]
        assert len(await s.list_jobs("delayed", None, 100)) == 63


async def test_a_cursor_whose_entry_is_gone_goes_on_after_its_score(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await _sparse_delayed(s)
        cursor, ids = await _raw(s, "delayed", "b", "", 25)
        assert (cursor.startswith("delayed:"), ids) == (True, [])
        assert cursor.endswith(":a24")  # the 25th entry, the last one read
        assert (await s.cancel_job("a24")).removed == 1
        cursor, ids = await _raw(s, "delayed", "b", cursor, 100)
        assert (cursor, ids) == ("", ["b-mid", "b0", "b1"])


async def _failures(s: RedisStorage) -> None:
    """Failed-jobs entries, oldest first: a00-a19, b0 and b1, a20-a29 (failed 7 at a
    time, each group's batches a few milliseconds apart from the other's)."""
    await s.register_group("a", 0)
    await s.register_group("b", 0)
    for group, names in (
        ("a", [f"a{i:02}" for i in range(20)]),
        ("b", ["b0", "b1"]),
        ("a", [f"a{i:02}" for i in range(20, 30)]),
    ):
        for name in names:
            await put(s, name, groups=(group,))
        while got := (await claim(s, group, 7))[0]:
            await s.settle([(d, Settle.FAIL, "E: boom") for d in got])
        await trio.sleep(0.005)


async def test_the_failed_record_is_read_newest_first_over_several_calls(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await _failures(s)
        s._examine = 9  # pyright: ignore[reportPrivateUsage]
        assert [job.id for job in await s.list_jobs("failed", "b", 10)] == ["b1", "b0"]
        newest = [job.id for job in await s.list_jobs("failed", "a", 30)]
        assert sorted(newest) == [f"a{i:02}" for i in range(30)]
        cursor, ids = await _raw(s, "failed", "b", "", 9)
        assert ids == []
        _, _, dkey = cursor.split(":", 2)  # the last entry read: "<len>:<group><id>"
        assert dkey.startswith("1:a")
        assert await s.drop_failed(None, [(dkey.removeprefix("1:a"), "a")]) == 1
        cursor, ids = await _raw(s, "failed", "b", cursor, 100)
        assert (cursor, ids) == ("", ["b1", "b0"])


async def test_a_job_two_calls_list_is_listed_once(server: RedisServer, prefix: str) -> None:
    """Running in one group and waiting in another: the calls that list the running
    jobs stop, and the next one, which reads them first in every ready set, lists
    them no more and goes on to the job behind them."""
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.register_group("b", 3)
        await put(s, "j0")
        assert ids((await claim(s, "a", 1))[0]) == ["j0"]  # waits in b
        await put(s, "j1", priority=5)
        assert ids((await claim(s, "b", 1))[0]) == ["j1"]  # waits in a
        await put(s, "j2", priority=-5)
        s._examine = 1  # pyright: ignore[reportPrivateUsage]
        for limit in (3, 10):  # the limit counts each job once
            listed = [job.id for job in await s.list_jobs(None, None, limit)]
            assert (sorted(listed[:2]), listed[2:]) == (["j0", "j1"], ["j2"])


async def test_the_failed_record_of_a_group_is_read_and_dropped_over_several_calls(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await _failures(s)
        s._examine = 9  # pyright: ignore[reportPrivateUsage]
        server.command("CONFIG", "RESETSTAT")
        read = [(job.job_id, job.consumer_group) for job in await s.failed_jobs("b", 10)]
        assert sorted(read) == [("b0", "b"), ("b1", "b")]
        assert server.calls().get("evalsha", 0) == 4  # 9, 9, 9 and the last 5 entries
        assert len(await s.failed_jobs(None, 100)) == 32
        assert len(await s.failed_jobs("a", 7)) == 7
        server.command("CONFIG", "RESETSTAT")
        assert await s.drop_failed("a", None) == 30
        assert server.calls().get("evalsha", 0) == 4  # 9 removed, 9, then 2, b's 2 and 5, then 5
        assert [job.job_id for job in await s.failed_jobs(None, 100)] in (
            ["b0", "b1"],
            ["b1", "b0"],
        )
        assert await s.drop_failed(None, None) == 2
        assert await s.failed_jobs(None, 100) == []
        assert await s.retry_failed("b0", "b") == 0  # no entry left to retry
