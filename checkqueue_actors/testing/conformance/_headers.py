"""Conformance tests of job headers: carried to every delivery, retries and exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .._recording import RecordingHandler
from ._harness import ConformanceBase

if TYPE_CHECKING:
    from ._harness import ConformanceHarness

__all__ = ["HeadersConformance"]


class HeadersConformance(ConformanceBase):
    """Job headers (``enqueue(headers=...)``).

    - Every delivery of a job, in every group and every retry, gets the headers it was
      enqueued with in ``QueueJob.headers`` (a copy taken at enqueue); a job enqueued
      without headers gets an empty mapping.
    - ``export_pending`` returns each job's headers and its own ``timeout``, a job in
      retry backoff included.
    - Headers that are not a mapping of strings to strings, or with an empty name, are
      refused (``ValueError``; a ``TypeError`` for a wrong type, which also passes) and
      nothing is stored.

    Also relies on retries, two groups and ``export_pending``.
    """

    async def test_headers_reach_every_delivery_through_retries(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Retries and every group see the job's headers; none gives an empty mapping."""
        flaky = RecordingHandler[Any](
            "flaky", fail_when=lambda job: job.id == "with" and job.attempts < 2
        )
        other = RecordingHandler[Any]("other")
        sent = {"trace": "abc-1", "tenant": "ü", "empty": ""}
        with cq.fail_after():
            async with cq.queue() as q:
                await q.consume(flaky, consumer_group="a", max_retries=2)
                await q.consume(other, consumer_group="b")
                await q.enqueue("x", job_id="with", headers=sent)
                sent["trace"] = "changed after enqueue"
                await q.enqueue("y", job_id="without")
                await flaky.log.wait_finished(4)
                await other.log.wait_finished(2)
        want = {"trace": "abc-1", "tenant": "ü", "empty": ""}
        assert [(j.attempts, dict(j.headers)) for j in flaky.log.jobs if j.id == "with"] == [
            (0, want),
            (1, want),
            (2, want),
        ]
        assert [dict(j.headers) for j in other.log.jobs if j.id == "with"] == [want]
        without = [j for j in [*flaky.log.jobs, *other.log.jobs] if j.id == "without"]
        assert len(without) == 2
        assert all(dict(j.headers) == {} for j in without)

    async def test_export_pending_keeps_headers_and_timeout(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """Exported jobs keep their headers and own timeout, in backoff or delayed."""
        rec = RecordingHandler[Any](fail_times=100)
        with cq.fail_after():
            q = cq.queue()
            async with q:
                await q.enqueue("later", job_id="delayed", start_delay=100, headers={"a": "1"})
                await q.enqueue("plain", job_id="plain", start_delay=100)
                await q.consume(rec, consumer_group="g", max_retries=5)
                await q.enqueue("r", job_id="retrying", timeout=3.0, headers={"c": "3"})
                await rec.log.wait_finished(1)
                await cq.settle()
            exported = {
                job.id: (dict(job.headers), job.timeout) for job in await q.export_pending()
            }
        assert exported == {
            "delayed": ({"a": "1"}, None),
            "plain": ({}, None),
            "retrying": ({"c": "3"}, 3.0),
        }

    async def test_bad_headers_are_refused_and_store_nothing(
        self, cq: ConformanceHarness, cq_clock: object
    ) -> None:
        """A non-mapping, non-string names or values, an empty name: refused, nothing stored."""
        bad: list[Any] = ["a=b", [("a", "b")], {1: "b"}, {"a": 1}, {"a": None}, {"": "b"}]
        with cq.fail_after():
            async with cq.queue() as q:
                for headers in bad:
                    with pytest.raises((ValueError, TypeError)):
                        await q.enqueue("x", headers=headers)
                stats = await q.get_stats()
        assert stats.pending == 0
