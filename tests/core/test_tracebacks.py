"""A failed delivery keeps its traceback beside its error text, on every backend's read
paths: ``JobGroupState.last_traceback`` and ``FailedJob.traceback``."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob
from checkqueue_actors._state.failed import ERROR_MAX, TRACEBACK_MAX, join_error, split_error


def _parse(job: QueueJob[Any]) -> None:
    raise ValueError(f"cannot parse {job.data!r}")


async def handler(job: QueueJob[Any]) -> None:
    _parse(job)


async def test_retrying_and_failed_jobs_show_their_tracebacks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While retrying, ``get_job`` shows the last failure's traceback; once failed for
    good, the failed-jobs record and ``get_job`` do; the error text stays one line."""
    queue = InMemoryQueue[Any]("q", InMemoryQueueConfig())
    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=1)
        await queue.enqueue("x", job_id="j")
        await trio.sleep(1)
        info = await queue.get_job("j")
        assert info is not None
        state = info.groups["g"]
        assert (state.state, state.last_error) == ("retrying", "ValueError: cannot parse 'x'")
        assert state.last_traceback is not None
        assert state.last_traceback.startswith("Traceback (most recent call last):")
        assert "in _parse" in state.last_traceback
        assert state.last_traceback.rstrip().endswith("ValueError: cannot parse 'x'")
        await trio.sleep(10)
        [failed] = await queue.get_failed_jobs()
        assert failed.error == "ValueError: cannot parse 'x'"
        assert failed.traceback is not None
        assert "in _parse" in failed.traceback
        info = await queue.get_job("j")
        assert info is not None
        assert info.groups["g"].last_traceback == failed.traceback


def test_join_and_split_keep_both_parts_within_their_bounds() -> None:
    """The error's start and the traceback's end are kept; a text without traceback
    splits to ``None``."""
    joined = join_error("E" * (ERROR_MAX + 10), "x" * 5 + "T" * TRACEBACK_MAX)
    error, traceback = split_error(joined)
    assert error == "E" * ERROR_MAX
    assert traceback == "T" * TRACEBACK_MAX
    assert split_error("ValueError: boom") == ("ValueError: boom", None)
    assert split_error(join_error("ValueError: boom", None)) == ("ValueError: boom", None)
