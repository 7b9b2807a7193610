"""An idle group's wait for work with its claim riding behind (``BLPOP`` then the
claim script, on the group's pipeline): work comes in one round trip, a lent slot
comes back when wanted, a stop ends the wait at once, and no key is left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from checkqueue_actors.testing import wait_until
from tests.wait_claims import ClaimKinds

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors.redis import RedisQueue

    from ._server import RedisServer


async def test_work_for_an_idle_group_comes_with_its_wait_claim(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """With a poll interval of 10 s, a job enqueued to a waiting group is delivered by
    the claim behind the wait, not by a claim sent once the wait has ended."""
    queue = make_queue(poll_interval_ms=10_000)
    kinds = ClaimKinds(queue.storage)

    async def handler(job: Any) -> None:
        pass

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await wait_until(lambda: bool(kinds.waits), timeout=5)
        await trio.sleep(0.1)
        await queue.enqueue("x")
        await wait_until(lambda: "x" in kinds.delivered_by, timeout=5)
    assert kinds.delivered_by == {"x": "wait"}


async def test_a_lent_slot_comes_back_and_a_stop_ends_the_wait(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """At concurrency 1 the waiting group holds the only slot; asking for it ends the
    wait at once (not after the 10 s poll interval), and so does stopping; the token
    that ended the wait is taken by it, so no key of it is left behind."""
    queue = make_queue(poll_interval_ms=10_000, concurrency=1)

    async def handler(job: Any) -> None:
        pass

    with trio.fail_after(5):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await wait_until(lambda: queue.slots.free == 0, timeout=5)
            assert await queue.slots.take(1) == 1
            queue.slots.give(1)
            # the group waits again, with the slot lent anew or without one
            await trio.sleep(0.2)
            t0 = trio.current_time()
        assert trio.current_time() - t0 < 2
    keys = [k.decode() for k in redis_server.command("KEYS", "*wi:*")]
    assert keys == []


async def test_two_groups_share_one_slot_without_waiting_for_a_poll(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """At concurrency 1 two groups take turns with the one slot, although the poll
    interval is 10 s: group b fails each job once, so its retry becomes ready while
    group a waits on the slot for work that does not come; a gives the slot back as
    soon as b wants it, and every job is done by both within a moment."""
    queue = make_queue(poll_interval_ms=10_000, concurrency=1)
    seen: dict[str, list[Any]] = {"a": [], "b": []}

    async def handler_a(job: Any) -> None:
        seen["a"].append(job.data)

    async def handler_b(job: Any) -> None:
        if job.attempts == 0:
            raise RuntimeError("the first attempt fails")
        seen["b"].append(job.data)

    async with queue:
        await queue.consume(handler_a, consumer_group="a", max_retries=1)
        await queue.consume(handler_b, consumer_group="b", max_retries=1)
        for i in range(3):
            await queue.enqueue(i)

            def both_ran(i: int = i) -> bool:
                return i in seen["a"] and i in seen["b"]

            with trio.fail_after(4):
                await wait_until(both_ran, timeout=4)
    assert seen == {"a": list(range(3)), "b": list(range(3))}
