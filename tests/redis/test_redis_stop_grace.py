"""stop(grace_period=...) on Redis: a hung handler is cancelled once the grace period has
passed and its delivery released, so the job is available again at once (not after its
lease expires), with its attempts unchanged and nothing counted as failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from checkqueue_actors.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors import QueueJob
    from checkqueue_actors.redis import RedisQueue


async def test_grace_period_releases_a_hung_delivery_at_once(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """The released job runs again in the same group on the next queue within a second,
    although its lease (30 s) has not expired; attempts are unchanged."""
    first = make_queue("q", lease_seconds=30.0)
    running = trio.Event()
    cancelled: list[str] = []

    async def hang(job: QueueJob[str]) -> None:
        running.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(job.id)
            raise

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(first.run)
            await first.consume(hang, consumer_group="g", max_retries=1)
            await first.enqueue("work", job_id="j")
            await running.wait()
            began = trio.current_time()
            await first.stop(grace_period=0.5)
            assert 0.5 <= trio.current_time() - began < 3
    assert cancelled == ["j"]
    assert first.interrupted_deliveries == [("j", "g")]

    second = make_queue("q", lease_seconds=30.0)
    again: list[tuple[str, int]] = []
    ran = trio.Event()

    async def finish(job: QueueJob[str]) -> None:
        again.append((job.id, job.attempts))
        ran.set()

    with trio.fail_after(20):
        async with second:
            stats = await second.get_stats()
            assert (stats.pending, stats.processing, stats.failed) == (1, 0, 0)
            await second.consume(finish, consumer_group="g", max_retries=1)
            with trio.fail_after(1.5):  # far below the 30 s lease
                await ran.wait()

            async def acked() -> bool:
                stats = await second.get_stats()
                return (stats.completed, stats.failed, stats.pending) == (1, 0, 0)

            await wait_until(acked, timeout=5)
    assert again == [("j", 0)]
