"""Job headers (in-memory): carried to every delivery, through retries and
``export_pending``, checked before anything is stored."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob
from checkqueue_actors._state import policy
from checkqueue_actors.testing import drain


def _queue() -> InMemoryQueue[str]:
    return InMemoryQueue("h", InMemoryQueueConfig(delay_multiplier=0.001))


async def test_headers_reach_every_delivery_through_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each delivery, the retries included and in every group, gets the job's headers;
    a job without headers gets an empty mapping; the handler cannot change them."""
    queue = _queue()
    seen: list[tuple[str, str, int, dict[str, str]]] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append(("g", job.id, job.attempts, dict(job.headers)))
        with pytest.raises(TypeError):
            job.headers["trace"] = "forged"  # type: ignore[index]  # read-only on purpose
        if job.attempts < 2:
            raise ValueError("again")

    async def other(job: QueueJob[str]) -> None:
        seen.append(("o", job.id, job.attempts, dict(job.headers)))

    sent = {"trace": "abc-1", "tenant": "ü"}
    async with queue:
        await queue.consume(handler, consumer_group="g", max_retries=2)
        await queue.consume(other, consumer_group="o")
        await queue.enqueue("x", job_id="with", headers=sent)
        sent["trace"] = "changed after enqueue"  # the job kept a copy
        await queue.enqueue("x", job_id="without")
        await drain(queue)
    want = {"trace": "abc-1", "tenant": "ü"}
    assert sorted(s for s in seen if s[1] == "with") == [
        ("g", "with", 0, want),
        ("g", "with", 1, want),
        ("g", "with", 2, want),
        ("o", "with", 0, want),
    ]
    assert {str(s[3]) for s in seen if s[1] == "without"} == {"{}"}


async def test_export_pending_returns_headers_and_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``export_pending`` returns each job's headers and own timeout, a job in retry
    backoff included."""
    queue = _queue()

    async def handler(job: QueueJob[str]) -> None:
        raise ValueError("back off")

    async with queue:
        await queue.enqueue("later", job_id="delayed", start_delay=100, headers={"a": "1"})
        await queue.enqueue("now", job_id="plain")
        await queue.enqueue_many(["m"], job_ids=["many"], timeout=7, headers={"b": ""})
        await queue.consume(handler, consumer_group="g", max_retries=5)
        await queue.enqueue("r", job_id="retrying", timeout=3, headers={"c": "3"})
        await trio.sleep(0.0005)  # every ready job failed once and waits out its backoff
    exported = {job.id: (dict(job.headers), job.timeout) for job in await queue.export_pending()}
    assert exported == {
        "delayed": ({"a": "1"}, None),
        "plain": ({}, None),
        "many": ({"b": ""}, 7.0),
        "retrying": ({"c": "3"}, 3.0),
    }


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ("a=b", TypeError),
        ([("a", "b")], TypeError),
        ({1: "b"}, TypeError),
        ({"a": 1}, TypeError),
        ({"a": None}, TypeError),
        ({"": "b"}, ValueError),
        ({"a\nb": "b"}, ValueError),
        ({"x" * (policy.HEADER_NAME_MAX + 1): "b"}, ValueError),
        ({"a": "\ud800"}, ValueError),
        ({f"k{i}": "" for i in range(policy.HEADERS_MAX + 1)}, ValueError),
        ({"big": "x" * policy.HEADERS_BYTES_MAX}, ValueError),
    ],
)
async def test_bad_headers_are_refused_and_store_nothing(
    autojump_clock: trio.testing.MockClock, headers: Any, error: type[Exception]
) -> None:
    """Headers breaking a rule raise (a TypeError for a wrong type, which is also a
    ValueError) from every enqueue call; nothing is stored."""
    queue = _queue()
    async with queue:
        with pytest.raises(error):
            await queue.enqueue("x", headers=headers)
        with pytest.raises(error):
            await queue.enqueue_many(["x", "y"], headers=headers)
        with pytest.raises(error):
            await queue.enqueue_for_groups("x", groups=["g"], headers=headers)
        assert (await queue.get_stats()).pending == 0
    assert await queue.export_pending() == []


def test_headers_within_the_bounds_are_accepted() -> None:
    """The largest headers allowed pass, copied into a read-only mapping."""
    most = {f"k{i:02}": "" for i in range(policy.HEADERS_MAX)}
    assert dict(policy.check_headers(most)) == most
    name = "n" * policy.HEADER_NAME_MAX
    biggest = {name: "v" * (policy.HEADERS_BYTES_MAX - len(name))}
    assert dict(policy.check_headers(biggest)) == biggest
    assert policy.check_headers({}) is policy.check_headers(None)
    assert policy.check_headers({}) == {}
