"""The backend conformance suite: how every ``Queue`` backend must behave, as pytest tests.

The tests are grouped by area, one mixin class per area (each documents what it checks):

- ``EnqueueConformance``: delivery of what was enqueued, job ids, argument errors, a full
  queue, every delivery accounted for under volume.
- ``OrderingConformance``: priority, then availability, then FIFO; delayed jobs.
- ``DedupConformance``: a ``job_id`` still in the queue makes ``enqueue`` a no-op.
- ``GroupsConformance``: competing consumers (round-robin), broadcast to every group,
  jobs waiting for the first group.
- ``RetriesConformance``: backoff, ``delay_multiplier``, ``max_retries``, per-group
  attempts and isolation, retries keep their priority.
- ``ConcurrencyConformance``: at most ``concurrency`` handlers run at once.
- ``RecurringConformance``: interval and cron schedules, redeclaring, cancelling,
  listing and details.
- ``LifetimesConformance``: ``stop``, ``async with``, running in the caller's nursery,
  calls before start and after stop, exceptions leaving unwrapped.
- ``StatsConformance``: the counters of ``get_stats()``.
- ``ExportConformance``: ``export_pending()`` after ``stop()``.
- ``TimeoutsConformance``: delivery timeouts (the group's and the job's own), cut runs
  failing with ``JobTimeoutError`` and retried.
- ``HeadersConformance``: job headers through retries, groups and ``export_pending``.
- ``GracePeriodConformance``: ``stop(grace_period=...)`` cancels handlers still running
  and releases their deliveries.
- ``FailedRecordConformance``: ``get_failed_jobs``, ``retry_failed_job``,
  ``drop_failed_jobs``.
- ``PauseConformance``: ``pause``, ``resume`` and ``is_paused`` of a group and of the
  whole queue.
- ``InspectionConformance``: ``get_job`` and ``list_jobs`` in every state, their order,
  filters and limits.
- ``CancelConformance``: ``cancel_job`` of waiting, delayed, retrying and running jobs.

One more area is not part of ``QueueConformanceTests``, because the ``Queue``
protocol has no ``enqueue_many``: ``BulkEnqueueConformance``, for queues the runtime
runs over a ``Storage`` (``enqueue_many`` and ``add_instruments``): ids taken or
repeated are skipped and instruments hear of the stored jobs only, and a batch is
stored whole or not at all. Add it to your class next to ``QueueConformanceTests``
when your backend is a ``Storage``.

``QueueConformanceTests`` is all the other areas together. Every mixin derives from
``ConformanceBase``, which holds the settings and the fixtures.

How to plug a backend in
------------------------
Subclass ``QueueConformanceTests`` (every area), or the mixins of the areas your
backend supports, in a module pytest collects (the class name must start with
``Test``); say which clock your backend's time lives on, and override the
``make_queue`` fixture with a factory of fresh, unstarted queues::

    import pytest
    from checkqueue_actors.testing import MakeQueue, QueueConformanceTests

    class TestMyBackend(QueueConformanceTests):
        time_mode = "real"              # "virtual" if trio's MockClock drives your timers
        real_delay_multiplier = 0.05    # real mode only: unscaled seconds -> real seconds

        @pytest.fixture
        def make_queue(self, my_server_url: str) -> MakeQueue:
            def make(name, *, concurrency, max_queue_size, delay_multiplier):
                return MyQueue(name, MyConfig(url=my_server_url, concurrency=concurrency,
                                              max_queue_size=max_queue_size,
                                              delay_multiplier=delay_multiplier))
            return make

Every test calls ``make_queue`` with a fresh, unique queue name, so a shared server
needs no cleanup between tests (use a unique key prefix per test anyway if you can).
The tests are marked ``trio`` themselves, so the suite runs whether or not the
project sets pytest-trio's ``trio_mode``.

Time modes:

- ``"virtual"`` (the in-memory backend): each test runs on
  ``MockClock(autojump_threshold=0)``, queues get ``delay_multiplier=1.0`` (the test of
  the multiplier itself gives its queue 0.5), delays are big (10 s, backoff 2-4-8 s)
  and times are compared exactly.
- ``"real"`` (backends whose time lives elsewhere, like Redis): the real clock,
  ``delay_multiplier=real_delay_multiplier``, times compared within
  ``[expected - real_early_tolerance, expected + real_late_tolerance]`` and every wait
  bounded by ``real_timeout`` seconds. Cron is not scaled, so in this mode the cron
  firing test uses the six-field pattern ``*/2 * * * * *`` (every two seconds).

Tests talk to the harness ``cq`` (a ``ConformanceHarness``): ``cq.queue()`` makes a
queue, ``cq.sleep(10)`` sleeps ten unscaled seconds (scaled in real mode), and
``cq.assert_elapsed`` compares durations the way the mode allows. Write extra,
backend-specific tests in your subclass the same way.
"""

from __future__ import annotations

from ._bulk import BulkEnqueueConformance
from ._cancel import CancelConformance
from ._concurrency import ConcurrencyConformance
from ._dedup import DedupConformance
from ._enqueue import EnqueueConformance
from ._export import ExportConformance
from ._failed import FailedRecordConformance
from ._grace import GracePeriodConformance
from ._groups import GroupsConformance
from ._harness import (
    ConformanceBase,
    ConformanceHarness,
    MakeQueue,
    TimeMode,
    pending_is,
    starts,
)
from ._headers import HeadersConformance
from ._inspection import InspectionConformance
from ._lifetimes import LifetimesConformance
from ._ordering import OrderingConformance
from ._pause import PauseConformance
from ._recurring import RecurringConformance
from ._retries import RetriesConformance
from ._stats import StatsConformance
from ._timeouts import TimeoutsConformance

__all__ = [
    "ConformanceBase",
    "ConformanceHarness",
    "MakeQueue",
    "QueueConformanceTests",
    "TimeMode",
    # the areas
    "EnqueueConformance",
    "OrderingConformance",
    "DedupConformance",
    "GroupsConformance",
    "RetriesConformance",
    "ConcurrencyConformance",
    "RecurringConformance",
    "LifetimesConformance",
    "StatsConformance",
    "ExportConformance",
    "TimeoutsConformance",
    "HeadersConformance",
    "GracePeriodConformance",
    "FailedRecordConformance",
    "PauseConformance",
    "InspectionConformance",
    "CancelConformance",
    # an area not in QueueConformanceTests (the Queue protocol has no enqueue_many)
    "BulkEnqueueConformance",
]

# The private helpers' names from when this package was one module, still importable.
_pending_is = pending_is
_starts = starts


# pytest collects inherited tests base-most first, so listing the areas last to
# first runs them in the order of the module docstring.
class QueueConformanceTests(
    CancelConformance,
    InspectionConformance,
    PauseConformance,
    FailedRecordConformance,
    GracePeriodConformance,
    HeadersConformance,
    TimeoutsConformance,
    ExportConformance,
    StatsConformance,
    LifetimesConformance,
    RecurringConformance,
    ConcurrencyConformance,
    RetriesConformance,
    GroupsConformance,
    DedupConformance,
    OrderingConformance,
    EnqueueConformance,
):
    """Every conformance area: the tests of all the mixins, run against ``make_queue``.

    See the module docstring for how to plug a backend in, and ``ConformanceBase`` for
    the class attributes to set (``time_mode`` and the real-mode settings).
    """
