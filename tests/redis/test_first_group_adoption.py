"""Redis: the first consumer group adopts the jobs enqueued while no group existed,
in a number of commands that does not grow with them, and the adopted jobs then
behave as the group's own everywhere (claims in order, a release, cancel, job_info,
list_jobs, a delayed one when it is due, export), while a group created later gets
none of them. A group that adopted jobs and was removed takes its delayed ones
with it; the next first group adopts only what was enqueued since.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._storage import NewJob, Settle

from .test_job_control_storage import claim, hourly_tick, ids, listed, opened, put, wait_due

if TYPE_CHECKING:
    from checkqueue_actors._backends.redis._storage import RedisStorage

    from ._server import RedisServer

pytestmark = pytest.mark.redis


async def _backlog(s: RedisStorage, n: int) -> None:
    """n jobs enqueued while no group exists, every tenth one delayed."""
    batch = [
        NewJob(f"j{i}", s.encode(i), i % 3, 60.0 if i % 10 == 0 else 0.0, None, headers={})
        for i in range(n)
    ]
    assert await s.enqueue_many(batch) == n


async def _register_counting(server: RedisServer, s: RedisStorage) -> dict[str, int]:
    server.command("CONFIG", "RESETSTAT")
    await s.register_group("a", 3)
    return server.calls()


async def test_adoption_runs_the_same_commands_for_any_backlog(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix + "w") as warm:
        await warm.register_group("a", 3)  # the scripts are loaded: EVALSHA finds them
    async with opened(server, prefix + "s") as small, opened(server, prefix + "l") as large:
        await _backlog(small, 20)
        await _backlog(large, 5_000)
        for_small = await _register_counting(server, small)
        for_large = await _register_counting(server, large)
        assert for_large == for_small, for_large
        assert sum(for_large.values()) == 15  # two scripts, and what they run
        # and the large backlog is the group's, in order
        assert (await large.stats()).pending == 5_000
        got, _ = await claim(large, "a", 3)
        assert ids(got) == ["j2", "j5", "j8"]  # priority 2, in enqueue order


async def test_adopted_jobs_are_the_first_groups_own(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await put(s, "low")
        await put(s, "high", priority=5)
        await put(s, "gone")
        await put(s, "soon", delay=0.3)
        await put(s, "later", delay=60)
        await put(s, "spare", priority=-5)
        await s.register_group("a", 3)
        await s.register_group("b", 3)  # adopts nothing
        await put(s, "both")
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            # one wake-up token per ready job (four adopted, then "both"), for as many
            # waiting consumers
            assert await client.llen(f"{s.base}w:a") == 5

        def states(info: Any) -> dict[str, str]:
            return {g: st.state for g, st in info.groups.items()}

        assert states(await s.job_info("low")) == {"a": "waiting"}
        assert states(await s.job_info("later")) == {"a": "delayed"}
        assert states(await s.job_info("both")) == {"a": "waiting", "b": "waiting"}
        assert listed(await s.list_jobs("delayed", "a", 10)) == ["soon", "later"]
        assert await s.list_jobs("delayed", "b", 10) == []
        assert listed(await s.list_jobs("waiting", "a", 10)) == [
            "high",
            "low",
            "gone",
            "both",
            "spare",
        ]
        assert listed(await s.list_jobs("waiting", "b", 10)) == ["both"]

        report = await s.cancel_job("gone")
        assert (report.removed, report.cancelled) == (1, True)
        assert listed(await s.list_jobs("waiting", "a", 10)) == ["high", "low", "both", "spare"]
        assert await s.job_info("gone") is None
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.zcard(f"{s.base}r:a") == 4  # its entry is gone too

        # a released adopted job goes back to its place
        (d,), _ = await claim(s, "a", 1)
        assert ids([d]) == ["high"]
        assert states(await s.job_info("high")) == {"a": "running"}
        await s.settle([(d, Settle.RELEASE, None)])
        assert states(await s.job_info("high")) == {"a": "waiting"}
        assert listed(await s.list_jobs("waiting", "a", 10)) == ["high", "low", "both", "spare"]

        # the delayed one joins the first group only, when it is due
        await wait_due(s, 0.4)
        got, _ = await claim(s, "a", 4)
        assert ids(got) == ["high", "low", "both", "soon"]
        got_b, _ = await claim(s, "b", 10)
        assert ids(got_b) == ["both"]
        await s.settle([(d, Settle.ACK, None) for d in got + got_b])
        assert (await s.stats()).pending == 2

        exported = {job.id: job.groups for job in await s.export_pending()}
        assert exported == {"later": ("a",), "spare": ("a",)}
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.zcard(f"{s.base}r:a") == 0
            assert await client.zcard(f"{s.base}r:b") == 0


async def test_a_failed_job_retried_while_adopted_again_is_not_doubled(
    server: RedisServer, prefix: str
) -> None:
    """Retrying a failed job that waits in its group again (adopted, unclaimed) adds
    nothing: one delivery."""
    async with opened(server, prefix, group_abandon_seconds=0.2) as s:
        await s.register_group("a", 0)
        await put(s, "j0")
        (d,), _ = await claim(s, "a", 1)
        await s.settle([(d, Settle.FAIL, "E: boom")])
        await trio.sleep(0.3)
        assert list((await s.reap()).abandoned_groups) == ["a"]
        await put(s, "j0")  # no group exists: it waits for the first one
        await s.register_group("a", 0)  # which adopts it
        (record,) = await s.failed_jobs(None, 10)
        assert (record.job_id, record.consumer_group) == ("j0", "a")
        assert await s.retry_failed("j0", "a") == 0  # already waiting in "a"
        got, _ = await claim(s, "a", 10)
        assert ids(got) == ["j0"]
        await s.settle([(got[0], Settle.ACK, None)])
        assert (await s.stats()).pending == 0


async def test_an_adopted_occurrence_leaves_with_its_cancelled_schedule(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        assert await s.schedule(hourly_tick(s))
        await wait_due(s, 0.05)  # an occurrence, while no group exists
        assert (await s.stats()).pending == 1
        await s.register_group("a", 3)
        assert await s.cancel_schedule("tick")  # its unstarted occurrence goes with it
        assert (await s.stats()).pending == 0
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.zcard(f"{s.base}r:a") == 0
        assert (await claim(s, "a", 10))[0] == []


async def test_a_removed_adopter_takes_its_delayed_jobs_with_it(
    server: RedisServer, prefix: str
) -> None:
    """The jobs a group adopted stay that group's: removed with it, never a later first
    group's, which adopts only the jobs enqueued while no group existed since."""
    async with opened(server, prefix, group_abandon_seconds=0.2) as s:
        await put(s, "old-ready")
        await put(s, "old-delayed", delay=1.0)
        await s.register_group("b", 3)
        await trio.sleep(0.3)
        assert list((await s.reap()).abandoned_groups) == ["b"]
        assert (await s.stats()).pending == 1  # old-delayed, owed to the removed group
        await s.register_group("a", 3)  # first again, with nothing new to adopt
        assert states_of(await s.job_info("old-delayed")) == {}
        await trio.sleep(0.3)
        assert list((await s.reap()).abandoned_groups) == ["a"]
        await put(s, "new-ready")
        await put(s, "new-delayed", delay=0.2)
        await s.register_group("c", 3)
        assert states_of(await s.job_info("new-delayed")) == {"c": "delayed"}
        assert states_of(await s.job_info("old-delayed")) == {}
        await wait_due(s, 1.1)
        got, _ = await claim(s, "c", 10)
        assert ids(got) == ["new-ready", "new-delayed"]
        await s.settle([(d, Settle.ACK, None) for d in got])
        assert (await s.stats()).pending == 0
        assert await s.job_info("old-delayed") is None


def states_of(info: Any) -> dict[str, str]:
    assert info is not None
    return {g: st.state for g, st in info.groups.items()}
