"""The two storages agree on job control: the random operations of
``test_policy_agreement`` (enqueues, claims, outcomes, timers), mixed with pauses,
resumes and cancels, give the same ``job_info``, ``list_jobs``, ``cancel_job`` reports
and pause states through the in-memory engine and through the Redis scripts.

Compared after every step: the deliveries claimed (a paused group claims nothing in
both), the counters; after cancels: the reports (the in-memory storage leaves its
running deliveries to the runtime, which settles them ``CANCEL``: so does this test,
on both); at each ``inspect`` step: ``job_info`` of every id, and ``list_jobs`` for
each state, group and two limits. Orders that the two storages may break differently
on ties (jobs of one batch retried, delayed or failed at the same moment, and the
``"running"`` jobs, in no fixed order) are compared as sets, each storage's limited
list being the start of its full one; ``"waiting"`` is compared in order.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import trio
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from checkqueue_actors import InMemoryQueueConfig
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors._model import JOB_STATES
from checkqueue_actors._state import policy
from checkqueue_actors._storage import Settle

from . import test_policy_agreement as base
from ._server import RedisServer, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from checkqueue_actors._model import JobInfo
    from checkqueue_actors._storage import CancelReport, Outcome

pytestmark = pytest.mark.redis

CLOCKS = timedelta(seconds=0.25)
"""How far apart two times the storages measure may be (two clocks, the steps' gaps)."""
STATES: list[Any] = [None, *JOB_STATES]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if find_redis_server() is None:
        pytest.skip("no redis-server binary")
    path: Path = tmp_path_factory.mktemp("control-agreement")
    server = RedisServer(path).start()
    try:
        yield server
    finally:
        server.stop()


step = st.one_of(
    base.step,
    base.claim,
    base.settle,
    base.settle,
    st.tuples(st.just("cancel"), st.sampled_from(base.IDS)),
    st.tuples(st.just("pause"), st.sampled_from([None, *base.GROUPS]), st.booleans()),
    st.tuples(st.just("inspect")),
    st.tuples(st.just("inspect")),
)


def _same_info(m: JobInfo[Any], r: JobInfo[Any], where: str) -> None:
    assert (m.id, m.data, m.priority, dict(m.headers)) == (
        r.id,
        r.data,
        r.priority,
        dict(r.headers),
    ), where
    assert abs(m.timestamp - r.timestamp) <= CLOCKS, where
    assert set(m.groups) == set(r.groups), f"{where}: {m.groups} != {r.groups}"
    for name, mine in m.groups.items():
        theirs = r.groups[name]
        assert (mine.state, mine.attempts, mine.last_error) == (
            theirs.state,
            theirs.attempts,
            theirs.last_error,
        ), f"{where}, group {name}: {mine} != {theirs}"
        if mine.available_at is None or theirs.available_at is None:
            assert mine.available_at is theirs.available_at, f"{where}, group {name}"
        else:
            assert abs(mine.available_at - theirs.available_at) <= CLOCKS, f"{where} {name}"


class ControlPair(base.Pair):
    """``Pair`` with retries that carry their error, and the job control steps."""

    def __init__(self, memory: MemoryStorage, redis: Any) -> None:
        super().__init__(memory, redis)
        self.cancelled = 0
        self.cancelled_running = 0
        self.paused = False
        self.inspected = 0
        self.errors = 0

    async def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "cancel":
            await self._cancel(step[1])
        elif kind == "pause":
            await self.both("set_paused", step[1], step[2])
            mine, theirs = await self.both("pause_state")
            assert mine == theirs, step
            self.paused = self.paused or step[2]
        elif kind == "inspect":
            await self._inspect()
            return
        else:
            await super().run(step)
            return
        assert await self.memory.stats() == await self.redis.stats(), f"after {step}"

    async def _settle(self, picks: list[tuple[int, str]]) -> None:
        chosen: dict[int, str] = {}
        for index, how in picks:
            if self.held:
                chosen.setdefault(index % len(self.held), how)
        mine: list[Outcome] = []
        theirs: list[Outcome] = []
        for index, how in chosen.items():
            m, r = self.held[index]
            assert m.job is not None
            detail: Any = None
            if how == "ack":
                settle = Settle.ACK
            elif how == "release":
                settle = Settle.RELEASE
            elif policy.should_retry(m.job.attempts, m.max_retries):
                delay = policy.retry_delay(m.job.attempts + 1, base.MULTIPLIER)
                settle, detail = Settle.RETRY, (delay, f"E: {m.job.id} {m.job.attempts}")
                self._timer(delay)
                self.retried += 1
                self.errors += 1
            else:
                settle, detail = Settle.FAIL, f"F: {m.job.id}"
            mine.append((m, settle, detail))
            theirs.append((r, settle, detail))
        self.held = [pair for i, pair in enumerate(self.held) if i not in chosen]
        await self._separate([d[0] for _, how, d in mine if how is Settle.RETRY])
        before = trio.current_time()
        lost = (await self.memory.settle(mine), await self.redis.settle(theirs))
        self._gap(before)
        assert lost == ([], []), lost

    async def _cancel(self, job_id: str) -> None:
        reports: tuple[CancelReport, CancelReport] = await self.both("cancel_job", job_id)
        mine, theirs = reports
        assert (mine.removed, sorted(mine.running)) == (theirs.removed, sorted(theirs.running))
        assert (mine.ended, theirs.ended) == (False, True)
        running = [pair for pair in self.held if pair[0].job and pair[0].job.id == job_id]
        assert sorted(m.group for m, _ in running) == sorted(mine.running)
        # the runtime ends the running deliveries: CANCEL on both (Redis sends nothing)
        lost = (
            await self.memory.settle([(m, Settle.CANCEL, None) for m, _ in running]),
            await self.redis.settle([(r, Settle.CANCEL, None) for _, r in running]),
        )
        assert lost == ([], [])
        self.held = [pair for pair in self.held if pair not in running]
        if mine.cancelled:
            self.cancelled += 1
        self.cancelled_running += bool(running)

    async def _inspect(self) -> None:
        self.inspected += 1
        for job_id in base.IDS:
            mine, theirs = await self.both("job_info", job_id)
            assert (mine is None) == (theirs is None), f"job_info({job_id}): {mine} / {theirs}"
            if mine is not None:
                _same_info(mine, theirs, f"job_info({job_id})")
        for state in STATES:
            for group in [None, *sorted(self.groups)]:
                await self._compare_lists(state, group)

    async def _compare_lists(self, state: Any, group: str | None) -> None:
        where = f"list_jobs({state}, {group})"
        full: tuple[list[JobInfo[Any]], list[JobInfo[Any]]] = await self.both(
            "list_jobs", state, group, 100
        )
        mine, theirs = full
        by_id = {info.id: info for info in theirs}
        assert [i.id for i in mine] == list(by_id) or state != "waiting", where
        assert {i.id for i in mine} == set(by_id), f"{where}: {mine} != {theirs}"
        for info in mine:
            _same_info(info, by_id[info.id], where)
        if state is None:
            # running first, in no fixed order, then the others
            running = {i.id for i in await self.memory.list_jobs("running", group, 100)}
            k = len(running)
            assert {i.id for i in mine[:k]} == {i.id for i in theirs[:k]} == running, where
        for limit in (1, 3):
            short: tuple[Sequence[JobInfo[Any]], Sequence[JobInfo[Any]]] = await self.both(
                "list_jobs", state, group, limit
            )
            for listed, every in zip(short, full, strict=True):
                assert [i.id for i in listed] == [i.id for i in every[:limit]], where
            if state == "waiting":
                assert [i.id for i in short[0]] == [i.id for i in short[1]], where


async def _agree(server: RedisServer, steps: list[tuple[Any, ...]], examine: int) -> None:
    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueueConfig

    memory = MemoryStorage("q", InMemoryQueueConfig())
    config = RedisQueueConfig(url=server.url, key_prefix=f"k{uuid.uuid4().hex[:8]}")
    redis = RedisStorage("q", config, None)
    # a list_jobs script call reads that many entries one by one, then the next call
    # goes on from its cursor
    redis._examine = examine  # pyright: ignore[reportPrivateUsage]
    await memory.open()
    await redis.open()
    try:
        pair = ControlPair(memory, redis)
        for s in steps:
            await pair.run(s)
        await pair.run(("inspect",))
        await pair.finish()
        event(f"cancelled {'none' if not pair.cancelled else 'some'}")
        event(f"cancelled running: {pair.cancelled_running > 0}")
        event(f"paused: {pair.paused}")
        event(f"retry errors: {pair.errors > 0}")
    finally:
        await redis.close()
        await memory.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.tuples(st.just("register"), st.sampled_from(base.GROUPS), st.integers(1, 3)),
    jobs=st.lists(base.enqueue, min_size=1, max_size=3),
    steps=st.lists(step, min_size=5, max_size=30),
    examine=st.sampled_from([1, 2, 5000]),
)
@example(  # two jobs retried by one settle call become ready together: enqueue order
    first=("register", "a", 1),
    jobs=[("enqueue", ("j0", -1, 0.05)), ("enqueue", ("j1", -1, 0.0))],
    steps=[
        ("flush",),
        ("claim", "a", 2),
        ("settle", [(0, "fail"), (1, "fail")]),
        ("flush",),
        ("claim", "a", 1),
    ],
    examine=5000,
)
@example(  # running in a, waiting in b: a list that goes on from a cursor lists it once
    first=("register", "b", 1),
    jobs=[("enqueue", ("j0", -1, 0.0))],
    steps=[
        ("enqueue", ("j2", -1, 0.0)),
        ("register", "a", 0),
        ("cancel", "j0"),
        ("enqueue", ("j1", -1, 0.0)),
        ("claim", "a", 1),
        ("enqueue", ("j0", -1, 0.0)),
    ],
    examine=1,
)
def test_memory_and_redis_storages_agree_on_job_control(
    server: RedisServer,
    first: tuple[Any, ...],
    jobs: list[tuple[Any, ...]],
    steps: list[tuple[Any, ...]],
    examine: int,
) -> None:
    trio.run(_agree, server, [first, *jobs, *steps], examine)
