"""Job control on the Redis storage, driven through the storage protocol as the runtime
drives it: pause and resume (claims, the heartbeat, durability), ``cancel_job`` in each
state (the holder's inbox, a late outcome of a cancelled delivery), ``job_info`` and
``list_jobs`` (states, orders, group filter, limit).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._storage import (
    HeartbeatReport,
    NewJob,
    PauseState,
    ScheduleSpec,
    Settle,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence

    from checkqueue_actors._backends.redis._storage import RedisDelivery, RedisStorage
    from checkqueue_actors._storage import Delivery

    from ._server import RedisServer

pytestmark = pytest.mark.redis


@asynccontextmanager
async def opened(
    server: RedisServer, prefix: str, **overrides: Any
) -> AsyncGenerator[RedisStorage]:
    """A RedisStorage of queue ``q`` under ``prefix``, open (another one on the same
    prefix is another process of the same queue)."""
    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueueConfig

    config = RedisQueueConfig(url=server.url, key_prefix=prefix, **overrides)
    storage = RedisStorage("q", config, None)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


async def put(
    storage: RedisStorage,
    job_id: str,
    *,
    priority: int = 0,
    delay: float = 0.0,
    groups: tuple[str, ...] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    job = NewJob(
        job_id,
        storage.encode({"id": job_id}),
        priority,
        delay,
        groups,
        headers=headers or {},
    )
    assert await storage.enqueue(job)


async def claim(
    storage: RedisStorage, group: str, n: int = 10, outcomes: Sequence[Any] = ()
) -> tuple[list[Delivery], Any]:
    ticket = await storage.send_claim(group, n, outcomes)
    return await storage.receive_claim(ticket), ticket


def ids(deliveries: Sequence[Delivery]) -> list[str]:
    return [d.job.id for d in deliveries if d.job is not None]


async def wait_due(storage: RedisStorage, seconds: float) -> None:
    """Let ``seconds`` pass, then promote what is due."""
    await trio.sleep(seconds)
    while await storage.advance() == 0:
        pass


def hourly_tick(storage: RedisStorage) -> ScheduleSpec:
    """A recurring job "tick" every hour, its first occurrence due at once."""
    return ScheduleSpec(
        job_id="tick",
        data=storage.encode({"tick": 1}),
        priority=0,
        interval_seconds=3600.0,
        cron=None,
        first_delay=0.0,
        step=3600.0,
    )


def near(when: datetime | None, expected: datetime, slack: float = 1.0) -> bool:
    return when is not None and abs((when - expected).total_seconds()) <= slack


# -- pause --------------------------------------------------------------------------------------


async def test_a_paused_group_claims_nothing_and_says_so(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.register_group("b", 3)
        for i in range(3):
            await put(s, f"j{i}")
        first, _ = await claim(s, "a", 1)
        assert ids(first) == ["j0"]
        await s.set_paused("a", True)
        # the outcome riding on the paused claim is written all the same
        got, ticket = await claim(s, "a", 10, [(first[0], Settle.ACK, None)])
        assert (got, ticket.paused, list(ticket.lost)) == ([], True, [])
        assert (await s.stats()).completed == 1
        others, ticket_b = await claim(s, "b", 1)
        assert (ids(others), ticket_b.paused) == (["j0"], False)
        await s.set_paused("a", False)
        got, ticket = await claim(s, "a", 10)
        assert (ids(got), ticket.paused) == (["j1", "j2"], False)


async def test_pausing_the_queue_pauses_every_group_and_its_resume_all(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.register_group("b", 3)
        await put(s, "j0")
        await s.set_paused("b", True)
        await s.set_paused(None, True)
        assert await s.pause_state() == PauseState(queue=True, groups=frozenset({"b"}))
        for group in ("a", "b"):
            got, ticket = await claim(s, group)
            assert (got, ticket.paused) == ([], True)
        await s.set_paused("a", False)  # the queue stays paused
        assert (await claim(s, "a"))[1].paused
        await s.set_paused(None, False)  # resumes "b" too
        assert await s.pause_state() == PauseState()
        for group in ("a", "b"):
            got, ticket = await claim(s, group)
            assert (ids(got), ticket.paused) == (["j0"], False)


async def test_the_pause_state_is_stored_and_every_process_reads_it(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.set_paused("a", True)
    async with opened(server, prefix) as other:  # a new process, after a restart
        assert await other.pause_state() == PauseState(groups=frozenset({"a"}))
        report = await other.heartbeat()
        assert isinstance(report, HeartbeatReport)
        assert report.paused == PauseState(groups=frozenset({"a"}))
        await other.set_paused(None, True)
        assert (await other.heartbeat()).paused == PauseState(True, frozenset({"a"}))
        await other.set_paused(None, False)
        assert (await other.heartbeat()).paused == PauseState()
        assert await other.pause_state() == PauseState()


async def test_a_resume_wakes_the_groups_waiting_router(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix, poll_interval_ms=5000) as s:
        await s.register_group("a", 3)
        await s.set_paused("a", True)
        await put(s, "j0")
        await s.wait_for_work("a", 5)  # the enqueue's wake-up
        assert (await claim(s, "a"))[1].paused
        woken_after = 0.0

        async def wait() -> None:
            nonlocal woken_after
            start = trio.current_time()
            await s.wait_for_work("a", 5)
            woken_after = trio.current_time() - start

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(0.3)
            await s.set_paused("a", False)
        assert 0.25 < woken_after < 2.0
        assert ids((await claim(s, "a"))[0]) == ["j0"]


# -- cancel -------------------------------------------------------------------------------------


async def test_cancel_a_waiting_job_in_every_group(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.register_group("b", 3)
        await put(s, "j0")
        await put(s, "j1")
        report = await s.cancel_job("j0")
        assert (report.removed, list(report.running), report.cancelled) == (2, [], True)
        assert (await s.stats()).pending == 1
        assert await s.job_info("j0") is None
        assert ids((await claim(s, "a"))[0]) == ["j1"]
        assert ids((await claim(s, "b"))[0]) == ["j1"]
        nothing = await s.cancel_job("j0")
        assert (nothing.removed, list(nothing.running), nothing.cancelled) == (0, [], False)


async def test_cancel_a_delayed_job_and_an_orphan(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await put(s, "orphan")  # before any group
        report = await s.cancel_job("orphan")
        assert (report.removed, report.cancelled) == (1, True)
        await s.register_group("a", 3)
        await put(s, "later", delay=0.2)
        assert (await s.stats()).pending == 1
        report = await s.cancel_job("later")
        assert (report.removed, list(report.running)) == (1, [])
        await wait_due(s, 0.3)
        assert (await claim(s, "a"))[0] == []
        assert (await s.stats()).pending == 0
        assert await s.export_pending() == []


async def test_cancel_a_retrying_job_keeps_the_group_done_with_it(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await s.register_group("b", 3)
        await put(s, "j0")
        (d,), _ = await claim(s, "a")
        assert await s.settle([(d, Settle.RETRY, (0.2, "ValueError: boom"))]) == []
        report = await s.cancel_job("j0")  # retrying in a, waiting in b
        assert (report.removed, list(report.running)) == (2, [])
        await wait_due(s, 0.3)
        assert (await claim(s, "a"))[0] == []
        assert (await claim(s, "b"))[0] == []
        stats = await s.stats()
        assert (stats.pending, stats.processing, stats.completed, stats.failed) == (0, 0, 0, 0)


async def test_cancel_a_running_job_tells_its_holder(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as holder, opened(server, prefix) as other:
        await holder.register_group("a", 3)
        await holder.register_group("b", 3)
        await put(holder, "j0")
        await put(holder, "j1")
        (d0, d1), _ = await claim(holder, "a", 2)
        report = await other.cancel_job("j0")  # running in a, waiting in b
        assert (report.removed, list(report.running), report.ended) == (1, ["a"], True)
        stats = await other.stats()
        assert (stats.pending, stats.processing, stats.completed) == (1, 1, 0)
        assert (await other.heartbeat()).cancelled == []  # not the holder
        assert list((await holder.heartbeat()).cancelled) == [("a", "j0")]
        assert list((await holder.heartbeat()).cancelled) == []  # the inbox was emptied
        # the holder's late renewal and outcome of it: no lost lease, nothing written
        assert await holder.renew([d0, d1]) == []
        assert await holder.settle([(d0, Settle.ACK, None), (d1, Settle.ACK, None)]) == []
        assert await holder.settle([(d0, Settle.CANCEL, None)]) == []
        stats = await holder.stats()  # j1 acked in a, waits in b
        assert (stats.pending, stats.processing, stats.completed, stats.failed) == (1, 0, 1, 0)
        assert await holder.job_info("j0") is None


async def test_a_cancelled_delivery_rides_on_a_claim_without_being_lost(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await put(s, "j0")
        await put(s, "j1")
        (d0,), _ = await claim(s, "a", 1)
        await s.cancel_job("j0")
        got, ticket = await claim(s, "a", 1, [(d0, Settle.RETRY, (0.1, "E: late"))])
        assert (ids(got), list(ticket.lost)) == (["j1"], [])
        got, ticket = await claim(s, "a", 1, [(d0, Settle.CANCEL, None)])
        assert (got, list(ticket.lost)) == ([], [])
        assert await s.job_info("j0") is None


async def test_a_lease_really_lost_is_still_reported(server: RedisServer, prefix: str) -> None:
    from checkqueue_actors._backends.redis._storage import RedisDelivery

    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await put(s, "j0")
        await put(s, "j1")
        (_d0, d1), _ = await claim(s, "a", 2)
        await s.cancel_job("j0")
        real: RedisDelivery = d1  # type: ignore[assignment]
        stale = RedisDelivery("a", real.job, real.dkey, real.token + "0", 3, None, False)
        assert await s.settle([(stale, Settle.ACK, None)]) == [stale]
        assert await s.renew([stale]) == [stale]


async def test_cancel_an_occurrence_of_a_recurring_job(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        assert await s.schedule(hourly_tick(s))
        await wait_due(s, 0.05)
        (occurrence,) = await s.list_jobs("waiting", None, 10)
        report = await s.cancel_job(occurrence.id)
        assert report.removed == 1
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.smembers(f"{s.base}so:tick") == set()
        assert await s.schedule_ids() == ["tick"]


# -- job_info -------------------------------------------------------------------------------------


async def test_job_info_in_each_state(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        assert await s.job_info("nope") is None
        await s.register_group("a", 3)
        await s.register_group("b", 0)
        before = datetime.now(UTC)
        await put(s, "j0", priority=5, headers={"h": "v"})
        info = await s.job_info("j0")
        assert info is not None
        assert (info.id, info.data, info.priority, dict(info.headers)) == (
            "j0",
            {"id": "j0"},
            5,
            {"h": "v"},
        )
        assert near(info.timestamp, before)
        assert set(info.groups) == {"a", "b"}
        for state in info.groups.values():
            assert (state.state, state.attempts, state.last_error) == ("waiting", 0, None)
            assert near(state.available_at, before)
        (da,), _ = await claim(s, "a")
        (db,), _ = await claim(s, "b")
        info = await s.job_info("j0")
        assert info is not None
        assert {g: st.state for g, st in info.groups.items()} == {"a": "running", "b": "running"}
        assert info.groups["a"].available_at is None
        at = datetime.now(UTC)
        await s.settle([(da, Settle.RETRY, (0.3, "ValueError: one"))])
        await s.settle([(db, Settle.FAIL, "KeyError: two")])
        info = await s.job_info("j0")
        assert info is not None
        a, b = info.groups["a"], info.groups["b"]
        assert (a.state, a.attempts, a.last_error) == ("retrying", 1, "ValueError: one")
        assert near(a.available_at, at + timedelta(seconds=0.3), 0.2)
        assert (b.state, b.attempts, b.last_error, b.available_at) == (
            "failed",
            0,
            "KeyError: two",
            None,
        )
        await wait_due(s, 0.35)
        info = await s.job_info("j0")
        assert info is not None
        a = info.groups["a"]
        assert (a.state, a.attempts, a.last_error) == ("waiting", 1, "ValueError: one")
        (da,), _ = await claim(s, "a")
        await s.settle([(da, Settle.ACK, None)])
        # done in a, failed in b: only the failed-jobs record knows it, headers included
        info = await s.job_info("j0")
        assert info is not None
        assert (info.data, info.priority, dict(info.headers)) == ({"id": "j0"}, 5, {"h": "v"})
        assert near(info.timestamp, before)
        assert {g: st.state for g, st in info.groups.items()} == {"b": "failed"}


async def test_job_info_of_a_delayed_job_an_orphan_and_an_undecodable_one(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await put(s, "orphan")
        info = await s.job_info("orphan")
        assert info is not None
        assert dict(info.groups) == {}
        await s.register_group("a", 3)
        info = await s.job_info("orphan")
        assert info is not None
        assert info.groups["a"].state == "waiting"
        now = datetime.now(UTC)
        await put(s, "later", delay=30)
        info = await s.job_info("later")
        assert info is not None
        (later,) = info.groups.values()
        assert later.state == "delayed"
        assert near(later.available_at, now + timedelta(seconds=30))
        await put(s, "bad")
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            await client.hset(f"{s.base}j:bad", {"d": "{not json"})
        info = await s.job_info("bad")
        assert info is not None
        assert info.data == "{not json"
        assert info.groups["a"].state == "waiting"


async def test_a_release_keeps_the_last_error_and_an_ack_drops_it(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 3)
        await put(s, "j0")
        (d,), _ = await claim(s, "a")
        await s.settle([(d, Settle.RETRY, (0.0, "E: first"))])
        await wait_due(s, 0.01)
        (d,), _ = await claim(s, "a")
        assert d.job is not None
        assert d.job.attempts == 1
        await s.settle([(d, Settle.RELEASE, None)])
        info = await s.job_info("j0")
        assert info is not None
        assert (info.groups["a"].state, info.groups["a"].last_error) == ("waiting", "E: first")
        (d,), _ = await claim(s, "a")
        await s.settle([(d, Settle.RETRY, (0.0, None))])  # no error text: the last one stays
        info = await s.job_info("j0")
        assert info is not None
        assert (info.groups["a"].attempts, info.groups["a"].last_error) == (2, "E: first")
        await wait_due(s, 0.01)
        (d,), _ = await claim(s, "a")
        await s.settle([(d, Settle.ACK, None)])
        assert await s.job_info("j0") is None
        async with s._connection() as client:  # pyright: ignore[reportPrivateUsage]
            assert await client.exists([f"{s.base}j:j0"]) == 0


# -- list_jobs ------------------------------------------------------------------------------------


def listed(infos: Sequence[Any]) -> list[str]:
    return [info.id for info in infos]


async def test_list_waiting_in_delivery_order_merged_over_groups(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await put(s, "orphan", priority=1)
        await s.register_group("a", 3)
        await put(s, "orphan2", priority=9)  # waits in a only: the first group took it
        await s.register_group("b", 3)
        await put(s, "low", priority=-1)
        await put(s, "b-only", priority=3, groups=("b",))
        await put(s, "mid")
        await put(s, "high", priority=5)
        order = ["orphan2", "high", "b-only", "orphan", "mid", "low"]
        assert listed(await s.list_jobs("waiting", None, 100)) == order
        assert listed(await s.list_jobs("waiting", None, 3)) == order[:3]
        assert listed(await s.list_jobs("waiting", "b", 100)) == ["high", "b-only", "mid", "low"]
        assert listed(await s.list_jobs("waiting", "a", 2)) == ["orphan2", "high"]
        (d,), _ = await claim(s, "a", 1)  # orphan2 runs in a
        assert listed(await s.list_jobs("waiting", "a", 100)) == ["high", "orphan", "mid", "low"]
        assert listed(await s.list_jobs("running", None, 100)) == ["orphan2"]
        (info,) = await s.list_jobs("running", "a", 100)
        assert info.groups["a"].state == "running"
        assert await s.list_jobs("running", "b", 100) == []
        await s.settle([(d, Settle.ACK, None)])
        assert await s.list_jobs("running", None, 100) == []


async def test_list_jobs_enqueued_before_any_group(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await put(s, "o1", priority=0)
        await put(s, "o2", priority=1)
        await put(s, "o3", delay=30)
        infos = await s.list_jobs("waiting", None, 10)
        assert listed(infos) == ["o2", "o1"]
        assert all(dict(info.groups) == {} for info in infos)
        assert listed(await s.list_jobs("delayed", None, 10)) == ["o3"]
        assert listed(await s.list_jobs(None, None, 10)) == ["o2", "o1", "o3"]
        assert await s.list_jobs("waiting", "a", 10) == []


async def test_list_delayed_and_retrying_by_time(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 5)
        await s.register_group("b", 5)
        await put(s, "d30", delay=30)
        await put(s, "d10", delay=10)
        await put(s, "d20", delay=20, groups=("b",))
        assert listed(await s.list_jobs("delayed", None, 10)) == ["d10", "d20", "d30"]
        assert listed(await s.list_jobs("delayed", "a", 10)) == ["d10", "d30"]
        assert listed(await s.list_jobs("delayed", None, 2)) == ["d10", "d20"]
        for job_id in ("r1", "r2", "r3"):
            await put(s, job_id)
        got, _ = await claim(s, "a")
        by_id = {d.job.id: d for d in got if d.job is not None}
        await s.settle(
            [
                (by_id["r1"], Settle.RETRY, (30.0, "E: 1")),
                (by_id["r2"], Settle.RETRY, (10.0, "E: 2")),
                (by_id["r3"], Settle.RETRY, (20.0, "E: 3")),
            ]
        )
        (b3,), _ = await claim(s, "b", 1)
        assert b3.job is not None
        assert b3.job.id == "r1"
        await s.settle([(b3, Settle.RETRY, (5.0, "E: b"))])
        assert listed(await s.list_jobs("retrying", None, 10)) == ["r1", "r2", "r3"]
        assert listed(await s.list_jobs("retrying", "a", 10)) == ["r2", "r3", "r1"]
        assert listed(await s.list_jobs("retrying", "a", 2)) == ["r2", "r3"]
        assert listed(await s.list_jobs("retrying", "b", 10)) == ["r1"]
        (r1,) = await s.list_jobs("retrying", "b", 10)
        assert {g: (st.state, st.last_error) for g, st in r1.groups.items()} == {
            "a": ("retrying", "E: 1"),
            "b": ("retrying", "E: b"),
        }
        # r2, r3 still wait in b: any state lists running, waiting, retrying, delayed
        assert listed(await s.list_jobs(None, None, 100)) == [
            "r2",
            "r3",
            "r1",
            "d10",
            "d20",
            "d30",
        ]
        assert listed(await s.list_jobs(None, None, 4)) == ["r2", "r3", "r1", "d10"]


async def test_list_any_state_puts_a_job_once_at_its_first_place(
    server: RedisServer, prefix: str
) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 5)
        await s.register_group("b", 5)
        await put(s, "j0")
        await put(s, "j1")
        await put(s, "j2", delay=30)
        (d0,), _ = await claim(s, "a", 1)  # j0 runs in a, waits in b
        (d1,), _ = await claim(s, "b", 1)  # j0 runs in b too
        await s.settle([(d1, Settle.RETRY, (30.0, "E"))])  # j0 retrying in b
        assert listed(await s.list_jobs(None, None, 100)) == ["j0", "j1", "j2"]
        assert listed(await s.list_jobs(None, "b", 100)) == ["j1", "j0", "j2"]
        assert listed(await s.list_jobs(None, None, 1)) == ["j0"]
        del d0


async def test_list_failed_newest_first(server: RedisServer, prefix: str) -> None:
    async with opened(server, prefix) as s:
        await s.register_group("a", 0)
        await s.register_group("b", 0)
        for job_id in ("f1", "f2", "f3"):
            await put(s, job_id)
        for job_id in ("f1", "f2", "f3"):
            (d,), _ = await claim(s, "a", 1)
            assert d.job is not None
            assert d.job.id == job_id
            await s.settle([(d, Settle.FAIL, f"E: {job_id}")])
            await trio.sleep(0.005)
        (d,), _ = await claim(s, "b", 1)
        await s.settle([(d, Settle.FAIL, "E: b")])
        assert listed(await s.list_jobs("failed", None, 10)) == ["f1", "f3", "f2"]
        assert listed(await s.list_jobs("failed", "a", 10)) == ["f3", "f2", "f1"]
        assert listed(await s.list_jobs("failed", "a", 1)) == ["f3"]
        assert listed(await s.list_jobs("failed", "b", 10)) == ["f1"]
        (f1,) = await s.list_jobs("failed", "b", 10)
        assert {g: (st.state, st.last_error) for g, st in f1.groups.items()} == {
            "a": ("failed", "E: f1"),
            "b": ("failed", "E: b"),
        }
        # failed is not among "any state"; f2, f3 still wait in b
        assert listed(await s.list_jobs(None, None, 10)) == ["f2", "f3"]


async def test_list_reads_past_other_groups_entries(server: RedisServer, prefix: str) -> None:
    """retrying with a group reads the retry set in chunks until ``limit`` are found."""
    async with opened(server, prefix) as s:
        await s.register_group("a", 5)
        await s.register_group("b", 5)
        for i in range(1200):
            await put(s, f"a{i:04}", groups=("a",))
        await put(s, "b0", groups=("b",))
        got, _ = await claim(s, "a", 1200)
        await s.settle([(d, Settle.RETRY, (30.0, "E")) for d in got])
        (db,), _ = await claim(s, "b", 1)
        await s.settle([(db, Settle.RETRY, (60.0, "E"))])
        assert listed(await s.list_jobs("retrying", "b", 5)) == ["b0"]
        assert len(await s.list_jobs("retrying", "a", 700)) == 700
        assert len(await s.list_jobs("retrying", None, 10_000)) == 1201


async def test_the_scripts_without_flags_do_the_same(server: RedisServer, prefix: str) -> None:
    """Redis 6.2 runs the scripts without their ``#!lua`` line (see ``_scripts``)."""
    from checkqueue_actors._backends.redis._scripts import LEGACY_SCRIPTS

    async with opened(server, prefix) as holder, opened(server, prefix) as other:
        for s in (holder, other):
            s._set = LEGACY_SCRIPTS  # pyright: ignore[reportPrivateUsage]
        await holder.register_group("a", 3)
        await put(holder, "j0")
        await put(holder, "j1", priority=1)
        await holder.set_paused(None, True)
        assert (await claim(holder, "a"))[1].paused
        assert (await other.heartbeat()).paused == PauseState(queue=True)
        await other.set_paused(None, False)
        (d1, d0), _ = await claim(holder, "a")
        await holder.settle([(d1, Settle.RETRY, (30.0, "E: one"))])
        assert listed(await other.list_jobs(None, None, 10)) == ["j0", "j1"]
        info = await other.job_info("j1")
        assert info is not None
        assert (info.groups["a"].state, info.groups["a"].last_error) == ("retrying", "E: one")
        report = await other.cancel_job("j0")
        assert (report.removed, list(report.running)) == (0, ["a"])
        assert list((await holder.heartbeat()).cancelled) == [("a", "j0")]
        assert await holder.settle([(d0, Settle.ACK, None)]) == []
