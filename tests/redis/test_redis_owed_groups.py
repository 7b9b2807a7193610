"""Redis: export_pending names the groups that still owe each job, and enqueue_for_groups
stores a job for the named groups only (creating a missing one, durable, for its consumers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from checkqueue_actors.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors import QueueJob
    from checkqueue_actors.redis import RedisQueue

    from ._server import RedisServer


async def test_export_pending_names_the_groups_that_still_owe_each_job(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """None when every group owes a job; else the groups that do."""
    queue = make_queue("q", delay_multiplier=1.0)  # retries wait 2 s
    seen: list[tuple[str, str]] = []

    async def a(job: QueueJob[str]) -> None:
        seen.append(("a", job.id))

    async def b(job: QueueJob[str]) -> None:
        seen.append(("b", job.id))
        raise RuntimeError("b fails")

    with trio.fail_after(20):
        async with queue:
            await queue.consume(a, consumer_group="a")
            await queue.enqueue("early", job_id="early", start_delay=100)  # only "a" exists
            await queue.consume(b, consumer_group="b")
            await queue.enqueue("half", job_id="half")
            await queue.enqueue("late", job_id="late", start_delay=100)
            await wait_until(lambda: sorted(seen) == [("a", "half"), ("b", "half")], timeout=10)
        pending = {job.id: job.groups for job in await queue.export_pending()}
    assert pending == {"early": ("a",), "half": ("b",), "late": None}


async def test_enqueue_for_groups_reaches_only_the_named_groups(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """A named group gets the job, the others do not; a missing named group is created and
    its first consumer gets the job; a refused call creates no group."""
    queue = make_queue("q")
    runs: list[tuple[str, str]] = []

    def handler(group: str) -> Any:
        async def run(job: QueueJob[str]) -> None:
            runs.append((group, job.id))

        return run

    groups_key = queue.key_base + "groups"
    with trio.fail_after(20):
        async with queue:
            await queue.consume(handler("a"), consumer_group="a")
            await queue.consume(handler("b"), consumer_group="b")
            await queue.enqueue_for_groups("x", groups=["b"], job_id="j")
            await queue.enqueue_for_groups("y", groups=["a", "c"], job_id="k")
            await wait_until(lambda: sorted(runs) == [("a", "k"), ("b", "j")], timeout=10)
            assert redis_server.command("HEXISTS", groups_key, "c") == 1
            assert (await queue.get_stats()).pending == 1  # "k" waits for "c"
            await queue.enqueue_for_groups("z", groups=["d"], job_id="k")  # a duplicate id
            assert redis_server.command("HEXISTS", groups_key, "d") == 0
            await queue.consume(handler("c"), consumer_group="c")
            await wait_until(lambda: ("c", "k") in runs, timeout=10)
            await trio.sleep(0.3)
    assert sorted(runs) == [("a", "k"), ("b", "j"), ("c", "k")]
