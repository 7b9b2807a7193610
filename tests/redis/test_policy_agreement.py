"""The two storages agree: the same random operations through the in-memory engine
and through the Redis scripts give the same deliveries, outcomes and counts.

Both storages are driven directly through the storage protocol, as the runtime
drives them, in real time (the Redis scripts read the server's clock). Delays are
a tenth of a second or so; a job waiting for its time is promoted only by
``advance``, which this test calls once every due time has passed in both (the
``flush`` step), so no step depends on how fast the other steps ran. Retry delays
come from the one backoff rule, as the runtime computes them. Compared after
every step: the deliveries claimed (order, job, attempts, the group's retry
limit), the outcomes the storage reports lost, the counters; at the end, what
``export_pending`` returns, remaining delays within a tolerance.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from checkqueue_actors import InMemoryQueueConfig
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors._state import policy
from checkqueue_actors._storage import NewJob, Settle

from ._server import RedisServer, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from checkqueue_actors._storage import Delivery, Outcome

MULTIPLIER = 0.05
"""The delay multiplier of the runtime in this test: retry delays 0.1, 0.2, 0.4 s."""
TOLERANCE = 0.03
"""Seconds two remaining delays may differ by, beyond the time that passed between
writing a timer to one storage and to the other, and between the two exports
(measured: the two storages are written one after the other, on two clocks)."""
SEPARATION = 0.005
"""Ready jobs of one priority go in the order they became available: the two
storages measure that moment a little apart (and Redis to the millisecond), so
no two jobs may become available closer than this."""
IDS = [f"j{i}" for i in range(10)]
GROUPS = ["a", "b"]
DELAYS = [0.0, 0.0, 0.05, 0.1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if find_redis_server() is None:
        pytest.skip("no redis-server binary")
    path: Path = tmp_path_factory.mktemp("agreement")
    server = RedisServer(path).start()
    try:
        yield server
    finally:
        server.stop()


job = st.tuples(st.sampled_from(IDS), st.sampled_from([-1, 0, 0, 5]), st.sampled_from(DELAYS))
enqueue = st.tuples(st.just("enqueue"), job)
claim = st.tuples(st.just("claim"), st.sampled_from(GROUPS), st.integers(1, 3))
settle = st.tuples(
    st.just("settle"),
    st.lists(
        st.tuples(st.integers(0, 9), st.sampled_from(["ack", "fail", "fail", "release"])),
        min_size=1,
        max_size=3,
    ),
)
step = st.one_of(
    enqueue,
    enqueue,
    st.tuples(st.just("enqueue_many"), st.lists(job, min_size=1, max_size=4)),
    st.tuples(st.just("register"), st.sampled_from(GROUPS), st.integers(0, 3)),
    claim,
    claim,
    claim,
    settle,
    settle,
    settle,
    st.tuples(st.just("flush")),
)


def _view(delivery: Delivery) -> tuple[Any, ...]:
    job = delivery.job
    assert job is not None
    return (delivery.group, job.id, job.data, job.priority, job.attempts, delivery.max_retries)


class Pair:
    """The two storages, and the deliveries each holds (the same jobs, in order)."""

    def __init__(self, memory: MemoryStorage, redis: Any) -> None:
        self.memory = memory
        self.redis = redis
        self.held: list[tuple[Delivery, Delivery]] = []
        self.groups: set[str] = set()
        self.moments: list[float] = []
        self.gap = 0.0
        self.claimed = 0
        self.flushed = False
        self.retried = 0
        self.due = 0.0
        """The trio time by which every delay and backoff given so far has passed."""

    def _gap(self, before: float) -> None:
        """Note how long writing one step to both storages took (its timers were set
        up to that much apart)."""
        self.gap = max(self.gap, trio.current_time() - before)

    def _timer(self, delay: float) -> None:
        if delay > 0:
            self.due = max(self.due, trio.current_time() + delay)

    async def _separate(self, delays: list[float]) -> None:
        """Wait until jobs given these delays now become available at least
        ``SEPARATION`` apart from every job before them; record those moments."""
        while True:
            now = trio.current_time()
            moments = {now + delay for delay in delays}
            if all(abs(m - t) >= SEPARATION for m in moments for t in self.moments):
                self.moments += moments
                return
            await trio.sleep(SEPARATION + 0.001)

    async def both(self, name: str, *args: Any) -> tuple[Any, Any]:
        return (
            await getattr(self.memory, name)(*args),
            await getattr(self.redis, name)(*args),
        )

    def jobs(self, storage: Any, jobs: list[tuple[str, int, float]]) -> list[NewJob]:
        return [
            NewJob(job_id, storage.encode({"id": job_id, "p": priority}), priority, delay)
            for job_id, priority, delay in jobs
        ]

    async def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "enqueue":
            (new,) = self.jobs(self.memory, [step[1]])
            (wire,) = self.jobs(self.redis, [step[1]])
            await self._separate([new.delay])
            before = trio.current_time()
            stored = (await self.memory.enqueue(new), await self.redis.enqueue(wire))
            self._gap(before)
            assert stored[0] == stored[1], f"{step}: stored {stored}"
            self._timer(new.delay)
        elif kind == "enqueue_many":
            await self._separate([delay for _, _, delay in step[1]])
            before = trio.current_time()
            counts = (
                await self.memory.enqueue_many(self.jobs(self.memory, step[1])),
                await self.redis.enqueue_many(self.jobs(self.redis, step[1])),
            )
            self._gap(before)
            assert counts[0] == counts[1], f"{step}: stored {counts}"
            for _, _, delay in step[1]:
                self._timer(delay)
        elif kind == "register":
            await self.both("register_group", step[1], step[2])
            self.groups.add(step[1])
        elif kind == "claim":
            # a registered group (the first registered, if the one drawn is not)
            group = step[1] if step[1] in self.groups else min(self.groups)
            n = step[2]
            mine = await self.memory.receive_claim(await self.memory.send_claim(group, n, ()))
            theirs = await self.redis.receive_claim(await self.redis.send_claim(group, n, ()))
            assert [_view(d) for d in mine] == [_view(d) for d in theirs], step
            self.held += zip(mine, theirs, strict=True)
            self.claimed += len(mine)
        elif kind == "settle":
            await self._settle(step[1])
        else:
            await self._flush()
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
            if how == "ack":
                outcome: tuple[Settle, Any] = (Settle.ACK, None)
            elif how == "release":
                outcome = (Settle.RELEASE, None)
            elif policy.should_retry(m.job.attempts, m.max_retries):
                delay = policy.retry_delay(m.job.attempts + 1, MULTIPLIER)
                outcome = (Settle.RETRY, (delay, None))
                self._timer(delay)
                self.retried += 1
            else:
                outcome = (Settle.FAIL, "boom")
            settle, detail = outcome
            mine.append((m, settle, detail))
            theirs.append((r, settle, detail))
        self.held = [pair for i, pair in enumerate(self.held) if i not in chosen]
        await self._separate([detail[0] for _, how, detail in mine if how is Settle.RETRY])
        before = trio.current_time()
        lost = (await self.memory.settle(mine), await self.redis.settle(theirs))
        self._gap(before)
        assert lost == ([], []), lost

    async def _flush(self) -> None:
        """Wait until every delay has passed, then promote in both."""
        wait = self.due - trio.current_time()
        if wait > 0:
            await trio.sleep(wait + 0.01)
            self.flushed = True
        for storage in (self.memory, self.redis):
            while await storage.advance() == 0:
                pass

    async def finish(self) -> None:
        """Give back what is held, then compare what each would export."""
        outcomes = [(m, Settle.RELEASE, None) for m, _ in self.held]
        await self.memory.settle(outcomes)
        await self.redis.settle([(r, Settle.RELEASE, None) for _, r in self.held])
        before = trio.current_time()
        mine = await self.memory.export_pending()
        theirs = await self.redis.export_pending()
        exported = trio.current_time() - before
        assert [(j.id, j.data, j.priority) for j in mine] == [
            (j.id, j.data, j.priority) for j in theirs
        ]
        for m, r in zip(mine, theirs, strict=True):
            tolerance = TOLERANCE + self.gap + exported
            assert math.isclose(m.remaining_delay, r.remaining_delay, abs_tol=tolerance), (
                f"{m.id}: remaining {m.remaining_delay} s in memory, {r.remaining_delay} s in redis"
            )


async def _agree(server: RedisServer, steps: list[tuple[Any, ...]]) -> None:
    from checkqueue_actors._backends.redis._storage import RedisStorage
    from checkqueue_actors.redis import RedisQueueConfig

    memory = MemoryStorage("q", InMemoryQueueConfig())
    config = RedisQueueConfig(url=server.url, key_prefix=f"p{uuid.uuid4().hex[:8]}")
    redis = RedisStorage("q", config, None)
    await memory.open()
    await redis.open()
    try:
        pair = Pair(memory, redis)
        for s in steps:
            await pair.run(s)
        await pair.finish()
        event(f"claimed {'none' if not pair.claimed else 'some'}")
        event(f"waited for timers: {pair.flushed}")
        event(f"retried: {pair.retried > 0}")
    finally:
        await redis.close()
        await memory.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.tuples(st.just("register"), st.sampled_from(GROUPS), st.integers(1, 3)),
    jobs=st.lists(enqueue, min_size=1, max_size=3),
    steps=st.lists(step, min_size=5, max_size=30),
)
def test_memory_and_redis_storages_agree(
    server: RedisServer,
    first: tuple[Any, ...],
    jobs: list[tuple[Any, ...]],
    steps: list[tuple[Any, ...]],
) -> None:
    trio.run(_agree, server, [first, *jobs, *steps])
