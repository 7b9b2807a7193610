"""For backend authors: the storage protocol, and the queue class that runs a storage.

Every backend of this package runs on one runtime, a small tree of trio tasks that
decides what happens and when (claiming, round-robin, retries and backoff, timers,
concurrency, shutdown). A backend is only a *storage*: where jobs, groups, leases
and schedules are kept. To add one, write a class that implements ``Storage`` and
a queue class that hands it to ``RuntimeQueue``::

    class SqliteQueue(RuntimeQueue[T]):
        def __init__(self, name: str, config: SqliteQueueConfig) -> None:
            super().__init__(
                name,
                SqliteStorage(name, config),
                concurrency=config.concurrency,
                delay_multiplier=config.delay_multiplier,
            )

Every public method of ``Queue`` then works on your backend, with the same rules as
the built-in ones (a storage keeps a failed-jobs record: ``FailedRecord`` holds one
in memory, by the rules every backend follows). ``MemoryStorage`` is the complete
in-process example; see the
how-to guide "Writing a backend plugin" for the whole walk-through.
"""

from __future__ import annotations

from ._actors.queue import RuntimeQueue as RuntimeQueue
from ._backends.memory import MemoryStorage as MemoryStorage
from ._state.failed import RETRY_DONE as RETRY_DONE
from ._state.failed import RETRY_NO_ENTRY as RETRY_NO_ENTRY
from ._state.failed import RETRY_NO_GROUP as RETRY_NO_GROUP
from ._state.failed import FailedRecord as FailedRecord
from ._storage import ClaimTicket as ClaimTicket
from ._storage import Delivery as Delivery
from ._storage import InProcessStorage as InProcessStorage
from ._storage import NewJob as NewJob
from ._storage import Outcome as Outcome
from ._storage import ReapReport as ReapReport
from ._storage import ScheduleSpec as ScheduleSpec
from ._storage import Settle as Settle
from ._storage import Storage as Storage
from ._storage import WaitClaimStorage as WaitClaimStorage

__all__ = [
    "RETRY_DONE",
    "RETRY_NO_ENTRY",
    "RETRY_NO_GROUP",
    "ClaimTicket",
    "Delivery",
    "FailedRecord",
    "InProcessStorage",
    "MemoryStorage",
    "NewJob",
    "Outcome",
    "ReapReport",
    "RuntimeQueue",
    "ScheduleSpec",
    "Settle",
    "Storage",
    "WaitClaimStorage",
]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("checkqueue_actors._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - aliases
                pass


_fix_module_names()
