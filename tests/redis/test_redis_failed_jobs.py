"""The failed-jobs record on Redis: the scenarios every backend passes, and the bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests import failed_scenarios

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors.redis import RedisQueue


async def test_record_filter_and_limit(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    async with make_queue(delay_multiplier=0.01) as queue:
        await failed_scenarios.record_filter_and_limit(queue)


async def test_failed_jobs_max_drops_the_oldest(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    async with make_queue(delay_multiplier=0.01, failed_jobs_max=3) as queue:
        await failed_scenarios.bound_keeps_the_newest(queue, 3)


async def test_retry_runs_in_that_group_only(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    async with make_queue(delay_multiplier=0.01) as queue:
        await failed_scenarios.retry_runs_in_that_group_only(queue)


async def test_drop_by_group_and_all(make_queue: Callable[..., RedisQueue[Any]]) -> None:
    async with make_queue(delay_multiplier=0.01) as queue:
        await failed_scenarios.drop_by_group_and_all(queue)
