"""Structural interfaces: the Queue every backend implements, handlers, config stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from types import TracebackType

    import trio

    from ._model import (
        FailedJob,
        JobInfo,
        JobState,
        PendingJob,
        QueueJob,
        QueueStats,
        RecurringJobDetails,
    )

__all__ = ["ConfigStore", "Handler", "Queue"]

T = TypeVar("T")

Handler: TypeAlias = Callable[["QueueJob[T]"], Awaitable[None]]
"""``async def handler(job: QueueJob[T]) -> None``; raising fails that delivery."""


@runtime_checkable
class Queue(Protocol[T]):
    """What every queue implements, whatever its backend."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Run the queue's actors until ``stop()``; use with ``nursery.start``."""
        ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...

    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # a delivery's timeout, not this call's
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Add a job; return its id (``timeout``: seconds one delivery may run, winning
        over the group's; ``headers``: string metadata carried to ``QueueJob.headers``)."""
        ...

    async def consume(
        self,
        handler: Handler[T],
        *,
        consumer_group: str,
        max_retries: int = 3,
        timeout: float | None = None,  # noqa: ASYNC109  # the group's delivery timeout
    ) -> None:
        """Register one consumer in ``consumer_group`` (``timeout``: the group's delivery
        timeout in seconds)."""
        ...

    async def schedule_recurring(
        self,
        data: T,
        *,
        job_id: str,
        interval_seconds: float | None = None,
        cron_pattern: str | None = None,
        timezone: str | None = None,
        start_delay: float | None = None,
        priority: int = 0,
    ) -> str:
        """Declare (or replace) a recurring job; return its id."""
        ...

    async def cancel_recurring(self, job_id: str) -> None:
        """Stop a recurring job's future occurrences."""
        ...

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs."""
        ...

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of one recurring job, ``None`` when unknown."""
        ...

    async def get_in_flight_count(self) -> int:
        """Handlers running now."""
        ...

    async def get_stats(self) -> QueueStats:
        """Counters of this queue."""
        ...

    async def test_connection(self) -> None:
        """Raise ``BackendUnavailableError`` when the backend cannot be reached."""
        ...

    async def get_failed_jobs(
        self, *, consumer_group: str | None = None, limit: int = 100
    ) -> list[FailedJob[T]]:
        """The newest deliveries that failed for good, newest first (of one group, or all)."""
        ...

    async def retry_failed_job(self, job_id: str, *, consumer_group: str) -> bool:
        """Deliver a failed job again to ``consumer_group`` only, attempts from 0; True
        when it was requeued."""
        ...

    async def drop_failed_jobs(self, *, consumer_group: str | None = None) -> int:
        """Remove the failed-jobs entries of ``consumer_group`` (all when None); how many."""
        ...

    async def pause(self, consumer_group: str | None = None) -> None:
        """Start no new delivery in ``consumer_group`` (every group when None) until resumed."""
        ...

    async def resume(self, consumer_group: str | None = None) -> None:
        """Undo ``pause`` (None: the whole queue, and every group paused on its own)."""
        ...

    async def is_paused(self, consumer_group: str | None = None) -> bool:
        """True when ``consumer_group`` starts no delivery (None: the whole queue is paused)."""
        ...

    async def get_job(self, job_id: str) -> JobInfo[T] | None:
        """Where the job stands in each group that owes it or failed it; None when neither."""
        ...

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        consumer_group: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo[T]]:
        """Jobs with at least one group in ``state`` (any but ``"failed"`` when None)."""
        ...

    async def cancel_job(self, job_id: str) -> bool:
        """Remove a waiting job, or cancel its running deliveries; True when something was."""
        ...

    async def stop(self, *, grace_period: float | None = None) -> None:
        """Stop gracefully: no new handler starts, running ones finish (with a
        ``grace_period``, those still running once it has passed are cancelled and
        their deliveries released)."""
        ...

    async def export_pending(self) -> list[PendingJob[T]]:
        """After ``stop()``: take out the jobs still pending."""
        ...


class ConfigStore(Protocol):
    """Versioned key-value storage shared by managers (where the backend choice lives)."""

    async def get(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """The stored ``(version, value)`` of ``key``, or ``None``."""
        ...

    async def set(self, key: str, version: int, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` with ``version``."""
        ...
