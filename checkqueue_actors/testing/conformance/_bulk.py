"""Conformance tests of ``enqueue_many`` (queues run by the runtime over a ``Storage``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

import pytest

from ..._errors import QueueFullError
from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..._model import QueueJob
    from ..._protocols import Queue
    from ._harness import ConformanceHarness

__all__ = ["BulkEnqueueConformance"]


class _BulkQueue(Protocol):
    async def enqueue_many(
        self, items: Iterable[Any], *, job_ids: Sequence[str | None] | None = None
    ) -> list[str]: ...

    def add_instruments(self, instruments: Sequence[object]) -> None: ...


class _Heard:
    """An instrument recording ``job_enqueued``."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, Any]] = []

    def job_enqueued(self, queue: object, job: QueueJob[Any]) -> None:
        self.jobs.append((job.id, job.data))


class BulkEnqueueConformance(ConformanceBase):
    """``enqueue_many``, for queues that have it and take instruments
    (``add_instruments``): every queue the runtime runs over a ``Storage``, the
    built-in ones included. Not part of ``QueueConformanceTests``: the ``Queue``
    protocol has no ``enqueue_many``.

    - The ids come back one per item, in order; each new id is stored once: an id
      already in the queue, or repeated in the call, is skipped (still returned in
      its place), and instruments hear (``job_enqueued``) of the stored jobs only,
      which needs the storage to mark each job it skips (``NewJob.skipped``).
    - All or nothing: a batch whose new jobs do not all fit in ``max_queue_size``
      raises ``QueueFullError`` and stores none of them.
    """

    async def test_enqueue_many_skips_ids_taken_and_repeated(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Taken and repeated ids are skipped; instruments hear of the stored jobs only."""
        heard = _Heard()
        with cq.fail_after():
            async with cq.queue() as q:
                bulk = _observed(q, heard)
                await q.enqueue("old", job_id="a")
                ids = await bulk.enqueue_many(["x", "y", "z", "w"], job_ids=["a", "b", "b", "c"])
                assert ids == ["a", "b", "b", "c"]
                assert (await q.get_stats()).pending == 3
                assert await _run_all(cq, q, 3) == ["old", "w", "y"]
        assert heard.jobs == [("a", "old"), ("b", "y"), ("c", "w")]

    async def test_enqueue_many_is_all_or_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A batch that does not fit stores nothing; one that fits is stored whole."""
        heard = _Heard()
        with cq.fail_after():
            async with cq.queue(max_queue_size=5) as q:
                bulk = _observed(q, heard)
                await bulk.enqueue_many([1, 2, 3])
                with pytest.raises(QueueFullError):
                    await bulk.enqueue_many([4, 5, 6])
                assert (await q.get_stats()).pending == 3
                # ids already in the queue take no room
                taken = await bulk.enqueue_many([7, 8], job_ids=["t1", "t2"])
                await bulk.enqueue_many([9, 10], job_ids=taken)
                assert (await q.get_stats()).pending == 5
                assert await _run_all(cq, q, 5) == [1, 2, 3, 7, 8]
        assert sorted(data for _, data in heard.jobs) == [1, 2, 3, 7, 8]


def _observed(queue: Queue[Any], heard: _Heard) -> _BulkQueue:
    """``queue`` as a queue with ``enqueue_many``, ``heard`` observing it."""
    bulk = cast("_BulkQueue", queue)
    bulk.add_instruments([heard])
    return bulk


async def _run_all(cq: ConformanceHarness, queue: Queue[Any], count: int) -> list[Any]:
    """Consume in one group until ``count`` deliveries finished; their data, sorted."""
    rec = RecordingHandler[Any]()
    await queue.consume(rec, consumer_group="g")
    await rec.log.wait_finished(count)
    await cq.settle()
    return sorted(rec.log.data)
