"""Redis: removing an abandoned group sets its waiting jobs aside at once and finishes
them for it a bounded batch per ``reap`` call (``ReapReport.more`` while some are
left, and the runtime reaps again at once), so that no call runs long whatever the
backlog. Meanwhile the other groups, a cancel, and a new group of the same name see
the jobs as the removed group's no more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._storage import NewJob, Settle
from checkqueue_actors.testing import wait_until

from .test_job_control_storage import claim, ids, opened, put

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueue

    from ._server import RedisServer

pytestmark = pytest.mark.redis

BATCH = 500
"""Jobs a reap call finishes for removed groups, at most (the storage's batch)."""


async def _backlog(s: RedisStorage, n: int, groups: tuple[str, ...] | None = None) -> None:
    for start in range(0, n, 1000):
        batch = [
            NewJob(f"j{i}", s.encode(i), 0, 0.0, groups, headers={})
            for i in range(start, min(n, start + 1000))
        ]
        assert await s.enqueue_many(batch) == len(batch)


async def _reap_all(s: RedisStorage) -> int:
    """Reap until nothing is left over; the number of calls."""
    calls = 1
    while (await s.reap()).more:
        calls += 1
    return calls


async def test_a_reap_call_does_the_same_work_for_any_backlog(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix + "w", group_abandon_seconds=0.1) as warm:
        await warm.register_group("gone", 3)  # the scripts are loaded: EVALSHA finds them
        await warm.reap()
    counts: list[dict[str, int]] = []
    for n in (BATCH + 100, 10 * BATCH):
        async with opened(server, f"{prefix}{n}", group_abandon_seconds=0.2) as s:
            await s.register_group("gone", 3)
            await _backlog(s, n)
            await trio.sleep(0.3)
            server.command("CONFIG", "RESETSTAT")
            report = await s.reap()
            counts.append(server.calls())
            assert (list(report.abandoned_groups), report.more) == (["gone"], True)
            assert (await s.stats()).pending == n - BATCH
            assert await _reap_all(s) == -(-(n - BATCH) // BATCH)
            assert (await s.stats()).pending == 0
            async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
                assert await client.exists([f"{s.base}j:j0", f"{s.base}drops"]) == 0
    assert counts[0] == counts[1]


async def test_the_other_groups_keep_their_jobs(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix, group_abandon_seconds=0.2) as s:
        await s.register_group("gone", 3)
        await s.register_group("kept", 3)
        await _backlog(s, 3 * BATCH)  # owed to both groups
        await put(s, "only-gone", groups=("gone",))
        await put(s, "only-kept", groups=("kept",))
        await trio.sleep(0.1)
        await s.register_group("kept", 3)  # seen again: not abandoned
        await trio.sleep(0.15)
        assert list((await s.reap()).abandoned_groups) == ["gone"]
        assert await _reap_all(s) == 3
        assert (await s.stats()).pending == 3 * BATCH + 1
        assert await s.job_info("only-gone") is None
        info = await s.job_info("j0")
        assert info is not None
        assert {g: st.state for g, st in info.groups.items()} == {"kept": "waiting"}
        got, _ = await claim(s, "kept", 3)
        assert ids(got) == ["j0", "j1", "j2"]
        await s.settle([(d, Settle.ACK, None) for d in got])
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.exists([f"{s.base}j:j0"]) == 0  # every group is done with it


async def test_jobs_set_aside_are_no_longer_the_groups(server: RedisServer, prefix: str) -> None:
    """While a removed group's backlog waits to be finished: a cancel takes a job out
    (pending counts it once), and a new group of the same name owes none of it."""
    async with opened(server, prefix, group_abandon_seconds=0.2) as s:
        await s.register_group("g", 3)
        await _backlog(s, 3 * BATCH)
        await trio.sleep(0.3)
        report = await s.reap()
        assert (list(report.abandoned_groups), report.more) == (["g"], True)
        last = f"j{3 * BATCH - 1}"  # set aside, not finished yet
        info = await s.job_info(last)
        assert info is not None
        assert dict(info.groups) == {}
        assert (await s.cancel_job(last)).removed == 1
        assert await s.job_info(last) is None
        await s.register_group("g", 3)  # the same name again: a new group
        await put(s, "new")
        assert [info.id for info in await s.list_jobs("waiting", "g", 10)] == ["new"]
        got, _ = await claim(s, "g", 10)
        assert ids(got) == ["new"]
        await s.settle([(got[0], Settle.ACK, None)])
        assert await _reap_all(s) == 2
        assert (await s.stats()).pending == 0


async def test_the_runtime_reaps_again_at_once_while_some_are_left(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Reaps come every 5 s here (a quarter of the lease, at most 5 s): the backlog of
    three batches is finished well before the third one would come."""

    async def nothing(job: Any) -> None:
        pass

    async with make_queue(lease_seconds=40.0) as queue:
        await queue.consume(nothing, consumer_group="gone")
    async with make_queue() as queue:
        await queue.enqueue_many(range(3 * BATCH))
    async with make_queue(group_abandon_seconds=0.5, lease_seconds=40.0) as queue:

        async def finished() -> bool:
            return (await queue.get_stats()).pending == 0

        with trio.fail_after(9):  # one reap at 5 s; three would take until 15 s
            await wait_until(finished, timeout=9)
