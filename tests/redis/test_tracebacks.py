"""The Redis backend keeps a failure's traceback too (retry errors and the failed record)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from checkqueue_actors import QueueJob
    from checkqueue_actors.redis import RedisQueue

pytestmark = pytest.mark.redis


def _parse(job: QueueJob[Any]) -> None:
    raise ValueError(f"cannot parse {job.data!r}")


async def handler(job: QueueJob[Any]) -> None:
    _parse(job)


async def test_retrying_and_failed_jobs_show_their_tracebacks(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """``get_job`` while retrying and once failed, and ``get_failed_jobs``, carry the
    traceback; the error text stays ``"ExcType: message"``."""
    async with make_queue("tb", delay_multiplier=0.05) as queue:
        await queue.consume(handler, consumer_group="g", max_retries=1)
        await queue.enqueue("x", job_id="j")
        with trio.fail_after(10):
            while True:
                info = await queue.get_job("j")
                if info is not None and info.groups["g"].state == "retrying":
                    break
                await trio.sleep(0.01)
        state = info.groups["g"]
        assert state.last_error == "ValueError: cannot parse 'x'"
        assert state.last_traceback is not None
        assert "in _parse" in state.last_traceback
        with trio.fail_after(10):
            while not (failed := await queue.get_failed_jobs()):  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert failed[0].error == "ValueError: cannot parse 'x'"
        assert failed[0].traceback is not None
        assert "in _parse" in failed[0].traceback
        info = await queue.get_job("j")
        assert info is not None
        assert info.groups["g"].last_traceback == failed[0].traceback
