"""Auto-pipelining of single enqueues (``_wire.Batcher``): concurrent calls share round
trips, each keeps its own outcome (stored, duplicate, queue full, an error reply),
a cancelled caller whose request was not sent runs nothing, and a failed round trip
fails its own callers only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import ResponseError

from checkqueue_actors import QueueFullError
from checkqueue_actors._backends.redis import _wire
from checkqueue_actors._backends.redis._wire import Batcher, ScriptClient, encode_command

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors.redis import RedisQueue

    from ._server import RedisServer


class _FakeClient:
    """Stands for a ``ScriptClient``: records each round trip's requests, answers them
    when the test says so (``release``), or fails the round trip."""

    def __init__(self) -> None:
        self.trips: list[list[bytes]] = []
        self.polls: list[bool] = []
        self.gate = trio.Event()
        self.fail: BaseException | None = None

    def release(self) -> None:
        self.gate.set()
        self.gate = trio.Event()

    async def exchange_many(
        self, payload: bytes, count: int, *, poll: bool = True, deadline: float | None = None
    ) -> list[Any]:
        requests = [b"*" + part for part in payload.split(b"*") if part]
        assert len(requests) == count
        assert deadline is not None  # the batcher bounds every round trip
        self.trips.append(requests)
        self.polls.append(poll)
        # as ScriptClient's: shielded from the caller, bounded by the deadline
        with trio.CancelScope(shield=True, deadline=deadline) as scope:
            await self.gate.wait()
        if scope.cancelled_caught:
            raise trio.TooSlowError
        if self.fail is not None:
            raise self.fail
        return [ResponseError("ERR no") if b"bad" in r else r for r in requests]


def _batcher(fake: _FakeClient) -> Batcher:
    client: Any = fake
    return Batcher(client, timeout=5.0)


def _req(word: str) -> bytes:
    return encode_command((word,))


async def test_calls_made_during_a_round_trip_share_the_next_one() -> None:
    fake = _FakeClient()
    batcher = _batcher(fake)
    replies: dict[str, Any] = {}

    async def call(word: str) -> None:
        try:
            replies[word] = await batcher.request(_req(word))
        except ResponseError as exc:
            replies[word] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "first")
        await trio.testing.wait_all_tasks_blocked()
        for word in ("a", "bad", "c"):
            nursery.start_soon(call, word)
        await trio.testing.wait_all_tasks_blocked()
        assert len(fake.trips) == 2  # the first alone, then the others together
        assert sorted(fake.trips[1]) == sorted([_req("a"), _req("bad"), _req("c")])
        # only a lone call may poll for its reply (busy_poll_us)
        assert fake.polls == [True, False]
        fake.release()
        await trio.testing.wait_all_tasks_blocked()
        fake.release()
    assert replies["first"] == _req("first")
    assert replies["a"] == _req("a")
    assert replies["c"] == _req("c")
    assert isinstance(replies["bad"], ResponseError)  # its own error reply, to it alone


async def test_a_caller_cancelled_before_its_request_is_sent_runs_nothing() -> None:
    fake = _FakeClient()
    batcher = _batcher(fake)
    got: list[Any] = []

    async def call(word: str) -> None:
        got.append(await batcher.request(_req(word)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call, "second")  # on the way with "first"'s one
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as scope:
            scope.cancel()
            await batcher.request(_req("cancelled"))
        nursery.start_soon(call, "third")
        await trio.testing.wait_all_tasks_blocked()
        # depth 2: "first" and "second" are on the way, "third" waits; the cancelled
        # caller left the queue, never sent
        assert all(_req("cancelled") not in trip for trip in fake.trips)
        while len(got) < 3:
            fake.release()
            await trio.testing.wait_all_tasks_blocked()
    assert sorted(got) == sorted([_req("first"), _req("second"), _req("third")])
    assert all(_req("cancelled") not in trip for trip in fake.trips)


async def test_a_queued_caller_cancelled_is_taken_out_and_the_rest_still_go() -> None:
    fake = _FakeClient()
    batcher = _batcher(fake)
    got: dict[str, Any] = {}
    scopes: dict[str, trio.CancelScope] = {}

    async def call(word: str) -> None:
        with trio.CancelScope() as scopes[word]:
            got[word] = await batcher.request(_req(word))
            return
        got[word] = "cancelled"

    async with trio.open_nursery() as nursery:
        for word in ("a", "b"):  # two round trips on the way (depth 2)
            nursery.start_soon(call, word)
            await trio.testing.wait_all_tasks_blocked()
        for word in ("c", "d", "e"):  # queued
            nursery.start_soon(call, word)
        await trio.testing.wait_all_tasks_blocked()
        assert len(fake.trips) == 2
        scopes["c"].cancel()  # the first queued: the one to send the next round trip
        await trio.testing.wait_all_tasks_blocked()
        assert got["c"] == "cancelled"
        while len(got) < 5:
            fake.release()
            await trio.testing.wait_all_tasks_blocked()
    assert sorted(fake.trips[2]) == [_req("d"), _req("e")]
    assert got["d"] == _req("d")
    assert got["e"] == _req("e")


async def test_a_caller_cancelled_after_its_request_was_sent_returns_at_once() -> None:
    fake = _FakeClient()
    batcher = _batcher(fake)
    got: dict[str, Any] = {}

    async def call(word: str, scope: trio.CancelScope) -> None:
        with scope:
            got[word] = await batcher.request(_req(word))
            return
        got[word] = "cancelled"

    scopes = {w: trio.CancelScope() for w in "abc"}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "a", scopes["a"])
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call, "b", scopes["b"])
        nursery.start_soon(call, "c", scopes["c"])
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(fake.trips[1]) == [_req("b"), _req("c")]
        # the second request of that round trip: its caller is not the one reading it
        member = "c" if fake.trips[1][1] == _req("c") else "b"
        scopes[member].cancel()  # sent: it may run; its caller leaves at once
        await trio.testing.wait_all_tasks_blocked()
        assert got[member] == "cancelled"
        scopes["a"].cancel()  # the caller reading a round trip reads it to the end
        await trio.testing.wait_all_tasks_blocked()
        assert "a" not in got
        fake.release()
    assert got["a"] == _req("a")
    # the batcher is free again
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "d", trio.CancelScope())
            await trio.testing.wait_all_tasks_blocked()
            fake.release()
    assert got["d"] == _req("d")


async def test_a_failed_round_trip_fails_its_callers_only() -> None:
    fake = _FakeClient()
    batcher = _batcher(fake)
    got: dict[str, Any] = {}

    async def call(word: str) -> None:
        try:
            got[word] = await batcher.request(_req(word))
        except RedisConnectionError as exc:
            got[word] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "a")
        await trio.testing.wait_all_tasks_blocked()
        for word in ("b", "c"):
            nursery.start_soon(call, word)
        await trio.testing.wait_all_tasks_blocked()
        fake.fail = RedisConnectionError("the connection broke")
        fake.release()  # both round trips on the way fail
        await trio.testing.wait_all_tasks_blocked()
        fake.fail = None
        nursery.start_soon(call, "d")
        await trio.testing.wait_all_tasks_blocked()
        fake.release()
    assert all(isinstance(got[w], RedisConnectionError) for w in "abc")
    assert got["d"] == _req("d")


async def test_error_replies_mid_round_trip_go_to_their_callers(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkqueue_actors._backends.redis._endpoint import Endpoint

    client = ScriptClient(
        Endpoint(
            tls=False, host="127.0.0.1", port=redis_server.port, db=0, username=None, password=None
        ),
        connect_timeout=2.0,
        stream_timeout=2.0,
        ssl_context=None,
    )
    batcher = Batcher(client, 2.0)
    trips: list[int] = []
    exchange = client.exchange_many

    async def counted(
        payload: bytes, count: int, *, poll: bool = True, deadline: float | None = None
    ) -> list[Any]:
        trips.append(count)
        return await exchange(payload, count, poll=poll, deadline=deadline)

    monkeypatch.setattr(client, "exchange_many", counted)
    got: dict[int, Any] = {}

    async def call(i: int) -> None:
        words: tuple[str | int, ...] = ("INCR", "text") if i == 50 else ("INCR", f"n{i}")
        try:
            got[i] = await batcher.request(encode_command(words))
        except ResponseError as exc:
            got[i] = exc

    await client.execute("SET", "text", "not a number")
    async with trio.open_nursery() as nursery:
        for i in range(100):
            nursery.start_soon(call, i)
    await client.aclose()
    assert isinstance(got.pop(50), ResponseError)
    assert got == {i: 1 for i in range(100) if i != 50}
    assert sum(trips) == 100
    assert len(trips) < 100  # shared round trips


async def test_concurrent_enqueues_keep_their_own_outcomes(
    make_queue: Callable[..., RedisQueue[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[int] = []
    exchange = _wire.ScriptClient.exchange_many

    async def counted(
        self: ScriptClient,
        payload: bytes,
        count: int,
        *,
        poll: bool = True,
        deadline: float | None = None,
    ) -> list[Any]:
        trips.append(count)
        return await exchange(self, payload, count, poll=poll, deadline=deadline)

    monkeypatch.setattr(_wire.ScriptClient, "exchange_many", counted)
    async with make_queue(max_queue_size=60) as queue:
        await queue.enqueue("old", job_id="dup")
        outcomes: dict[int, Any] = {}

        async def one(i: int) -> None:
            try:
                outcomes[i] = await queue.enqueue(i, job_id="dup" if i == 7 else f"j{i}")
            except QueueFullError as exc:
                outcomes[i] = exc

        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(one, i)
        stored = [i for i, v in outcomes.items() if isinstance(v, str) and i != 7]
        full = [i for i, v in outcomes.items() if isinstance(v, QueueFullError)]
        assert outcomes[7] == "dup"  # a duplicate: nothing changes, its id comes back
        assert len(stored) == 59
        assert len(full) == 40
        stats = await queue.get_stats()
        assert stats.pending == 60
        info = await queue.get_job("dup")
        assert info is not None
        assert info.data == "old"
    assert len(trips) < 100  # concurrent calls shared round trips


def _client(redis_server: RedisServer) -> ScriptClient:
    from checkqueue_actors._backends.redis._endpoint import Endpoint

    return ScriptClient(
        Endpoint(
            tls=False, host="127.0.0.1", port=redis_server.port, db=0, username=None, password=None
        ),
        connect_timeout=2.0,
        stream_timeout=2.0,
        ssl_context=None,
    )


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "new connection"])
async def test_an_exchange_with_a_deadline_ends_at_it(
    redis_server: RedisServer, pooled: bool
) -> None:
    """A stopped server: ``TooSlowError`` at the deadline, on a pooled connection (a
    polling exchange: a scope per wait) and on one it opens (one scope for the whole
    exchange)."""
    client = _client(redis_server)
    if pooled:
        assert await client.execute("PING") == b"PONG"
    redis_server.pause()
    try:
        async with trio.open_nursery() as nursery:
            # the server answers after 2 s: an exchange the deadline did not end returns
            nursery.start_soon(_resume_after, redis_server, 2.0)
            t0 = trio.current_time()
            with pytest.raises(trio.TooSlowError):
                await client.exchange_many(encode_command(("PING",)), 1, deadline=t0 + 0.3)
            assert 0.3 <= trio.current_time() - t0 < 1.5
    finally:
        redis_server.resume()
    # the connection that timed out was closed, not pooled: the next call works
    with trio.fail_after(5):
        assert await client.exchange_many(encode_command(("PING",)), 1) == [b"PONG"]
    await client.aclose()


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "new connection"])
async def test_an_exchange_with_a_deadline_outlives_its_callers_cancellation(
    redis_server: RedisServer, pooled: bool
) -> None:
    """Cancelling the caller does not cut a bounded exchange short: its replies are
    read (other callers of a shared round trip wait for them)."""
    client = _client(redis_server)
    if pooled:
        assert await client.execute("PING") == b"PONG"
    got: list[Any] = []
    redis_server.pause()
    try:
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                with trio.CancelScope() as scope:
                    nursery.start_soon(_cancel_soon, scope)
                    got.append(
                        await client.exchange_many(
                            encode_command(("PING",)),
                            1,
                            deadline=trio.current_time() + 10,
                        )
                    )

            nursery.start_soon(call)
            await trio.sleep(0.3)  # the caller's cancel came at 0.1 s
            assert got == []
            redis_server.resume()
    finally:
        redis_server.resume()
    assert got == [[b"PONG"]]
    await client.aclose()


async def _resume_after(redis_server: RedisServer, seconds: float) -> None:
    await trio.sleep(seconds)
    redis_server.resume()


async def _cancel_soon(scope: trio.CancelScope) -> None:
    await trio.sleep(0.1)
    scope.cancel()
