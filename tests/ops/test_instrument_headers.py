"""The ``prepare_headers`` hook: headers added before a job is stored, on every enqueue path."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from checkqueue_actors import InMemoryQueue, Instrument, QueueJob
from checkqueue_actors._actors.instruments import Instruments
from checkqueue_actors.testing import drain

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pytest
    import trio.testing


class Stamp:
    """Adds ``stamp: <job id>`` and ``tenant: instrument`` to every job."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def prepare_headers(
        self, queue: Any, job_id: str, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        self.seen.append((queue.name, job_id, dict(headers)))
        return {"stamp": job_id, "tenant": "instrument"}


async def _run(queue: InMemoryQueue[Any], enqueue: Any) -> dict[str, dict[str, str]]:
    got: dict[str, dict[str, str]] = {}

    async def handler(job: QueueJob[Any]) -> None:
        got[job.id] = dict(job.headers)

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await enqueue(queue)
        await drain(queue)
    return got


async def test_every_enqueue_path_adds_the_headers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """enqueue, enqueue_many and enqueue_for_groups; the caller's own headers win."""
    stamp = Stamp()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[stamp])

    async def enqueue(q: InMemoryQueue[str]) -> None:
        await q.enqueue("a", job_id="a", headers={"tenant": "caller"})
        await q.enqueue_many(["b", "c"], job_ids=["b", "c"])
        await q.enqueue_for_groups("d", groups=["g"], job_id="d")

    got = await _run(queue, enqueue)
    assert got == {
        "a": {"stamp": "a", "tenant": "caller"},
        "b": {"stamp": "b", "tenant": "instrument"},
        "c": {"stamp": "c", "tenant": "instrument"},
        "d": {"stamp": "d", "tenant": "instrument"},
    }
    assert stamp.seen[0] == ("q", "a", {"tenant": "caller"})
    assert [job_id for _, job_id, _ in stamp.seen] == ["a", "b", "c", "d"]


async def test_a_generated_id_is_the_one_the_hook_sees(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The hook gets the id the job is stored under, even when the queue makes it."""
    stamp = Stamp()
    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[stamp])
    ids: list[str] = []

    async def enqueue(q: InMemoryQueue[str]) -> None:
        ids.append(await q.enqueue("x"))

    got = await _run(queue, enqueue)
    assert got == {ids[0]: {"stamp": ids[0], "tenant": "instrument"}}


async def test_a_broken_hook_never_breaks_an_enqueue(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises, or adds headers over the bounds, is logged once and ignored."""

    class Raises:
        def prepare_headers(self, queue: Any, job_id: str, headers: Any) -> Any:
            raise RuntimeError("broken")

    class TooBig:
        def prepare_headers(self, queue: Any, job_id: str, headers: Any) -> Any:
            return {"big": "x" * 20_000}

    queue: InMemoryQueue[str] = InMemoryQueue("q", instruments=[Raises(), TooBig()])

    async def enqueue(q: InMemoryQueue[str]) -> None:
        await q.enqueue("a", job_id="a", headers={"mine": "1"})
        await q.enqueue("b", job_id="b")

    with caplog.at_level(logging.WARNING, logger="checkqueue_actors"):
        got = await _run(queue, enqueue)
    assert got == {"a": {"mine": "1"}, "b": {}}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("raised (ignored; logged once per method)" in m for m in messages) == 1
    assert sum("headers added by instruments were dropped" in m for m in messages) == 1


def test_methods_inherited_from_the_protocol_are_not_called() -> None:
    """A subclass of Instrument pays only for the hooks it defines."""

    class OnlyEnqueued(Instrument):
        def job_enqueued(self, queue: Any, job: QueueJob[Any]) -> None:
            pass

    hooks = Instruments([OnlyEnqueued()])
    assert hooks.prepare_headers == ()
    assert hooks.delivery_started == ()
    assert len(hooks.job_enqueued) == 1
