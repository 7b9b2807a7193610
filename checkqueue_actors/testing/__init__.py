"""Test kit of checkqueue_actors: for applications and for backend authors.

- ``RecordingHandler`` / ``DeliveryLog``: a handler that records every delivery
  (with the trio time it started) and can be told to fail, sleep or wait.
- ``drain(queue)``: wait until nothing is pending or running; ``wait_until``
  polls any condition. Both work under pytest-trio's ``autojump_clock``.
- ``QueueConformanceTests``: the backend conformance suite as a pytest class to
  subclass with your backend's queue factory; it is made of one mixin per area
  (``EnqueueConformance``, ``OrderingConformance``, ``DedupConformance``,
  ``GroupsConformance``, ``RetriesConformance``, ``ConcurrencyConformance``,
  ``RecurringConformance``, ``LifetimesConformance``, ``StatsConformance``,
  ``ExportConformance``, ``TimeoutsConformance``, ``HeadersConformance``,
  ``GracePeriodConformance``, ``FailedRecordConformance``, ``PauseConformance``,
  ``InspectionConformance``, ``CancelConformance``), which a backend can also
  subclass on their own to run only
  the areas it supports (see ``checkqueue_actors.testing.conformance``);
  ``BulkEnqueueConformance`` (``enqueue_many``) is an extra area for backends that
  are a ``Storage`` run by the runtime.
- ``QueueStateMachine``: a Hypothesis state machine that checks a backend against a
  reference model over random interleavings (see ``checkqueue_actors.testing.stateful``).
- ``checkqueue_actors.testing.pytest_plugin``: fixtures (``memory_queue``,
  ``recording_handler``); enable it with
  ``pytest_plugins = ["checkqueue_actors.testing.pytest_plugin"]``.

This subpackage imports pytest, pytest-trio and Hypothesis: install them (the
``test`` extra) to use it.
"""

from __future__ import annotations

from ._recording import (
    DeliveryLog as DeliveryLog,
)
from ._recording import (
    HandlerFailure as HandlerFailure,
)
from ._recording import (
    RecordedDelivery as RecordedDelivery,
)
from ._recording import (
    RecordingHandler as RecordingHandler,
)
from ._waiting import drain as drain
from ._waiting import is_virtual_clock as is_virtual_clock
from ._waiting import wait_until as wait_until
from .conformance import (
    BulkEnqueueConformance as BulkEnqueueConformance,
)
from .conformance import (
    CancelConformance as CancelConformance,
)
from .conformance import (
    ConcurrencyConformance as ConcurrencyConformance,
)
from .conformance import (
    ConformanceBase as ConformanceBase,
)
from .conformance import (
    ConformanceHarness as ConformanceHarness,
)
from .conformance import (
    DedupConformance as DedupConformance,
)
from .conformance import (
    EnqueueConformance as EnqueueConformance,
)
from .conformance import (
    ExportConformance as ExportConformance,
)
from .conformance import (
    FailedRecordConformance as FailedRecordConformance,
)
from .conformance import (
    GracePeriodConformance as GracePeriodConformance,
)
from .conformance import (
    GroupsConformance as GroupsConformance,
)
from .conformance import (
    HeadersConformance as HeadersConformance,
)
from .conformance import (
    InspectionConformance as InspectionConformance,
)
from .conformance import (
    LifetimesConformance as LifetimesConformance,
)
from .conformance import (
    MakeQueue as MakeQueue,
)
from .conformance import (
    OrderingConformance as OrderingConformance,
)
from .conformance import (
    PauseConformance as PauseConformance,
)
from .conformance import (
    QueueConformanceTests as QueueConformanceTests,
)
from .conformance import (
    RecurringConformance as RecurringConformance,
)
from .conformance import (
    RetriesConformance as RetriesConformance,
)
from .conformance import (
    StatsConformance as StatsConformance,
)
from .conformance import (
    TimeMode as TimeMode,
)
from .conformance import (
    TimeoutsConformance as TimeoutsConformance,
)
from .stateful import QueueStateMachine as QueueStateMachine

__all__ = [
    "ConformanceHarness",
    "DeliveryLog",
    "HandlerFailure",
    "MakeQueue",
    "QueueConformanceTests",
    "RecordedDelivery",
    "QueueStateMachine",
    "RecordingHandler",
    "TimeMode",
    "drain",
    "is_virtual_clock",
    "wait_until",
    # the conformance areas (QueueConformanceTests is all of them) and their base
    "ConformanceBase",
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
    "BulkEnqueueConformance",
]
