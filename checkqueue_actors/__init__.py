"""checkqueue_actors: a job queue for trio applications.

Queues, priorities, delayed jobs, job-id dedup, broadcast consumer groups with
round-robin inside a group, per-group retries with exponential backoff,
bounded concurrency, recurring jobs (interval and cron), graceful stop,
statistics and pluggable backends, observable through instruments. See ``docs/``
for the guide.
"""

from __future__ import annotations

from ._actors.instruments import Instrument as Instrument
from ._backends.memory import (
    InMemoryQueue as InMemoryQueue,
)
from ._backends.memory import (
    InMemoryQueueConfig as InMemoryQueueConfig,
)
from ._backends.memory import (
    InMemoryQueuePlugin as InMemoryQueuePlugin,
)
from ._config import parse_config as parse_config
from ._errors import (
    BackendRefusedError as BackendRefusedError,
)
from ._errors import (
    BackendUnavailableError as BackendUnavailableError,
)
from ._errors import (
    ConfigValidationError as ConfigValidationError,
)
from ._errors import (
    InvalidScheduleError as InvalidScheduleError,
)
from ._errors import (
    JobTimeoutError as JobTimeoutError,
)
from ._errors import (
    PluginNotFoundError as PluginNotFoundError,
)
from ._errors import (
    QueueError as QueueError,
)
from ._errors import (
    QueueFullError as QueueFullError,
)
from ._errors import (
    QueueStoppedError as QueueStoppedError,
)
from ._errors import (
    SerializationError as SerializationError,
)
from ._manager import QueueManager as QueueManager
from ._manager import open_queue_manager as open_queue_manager
from ._model import (
    FailedJob as FailedJob,
)
from ._model import (
    JobGroupState as JobGroupState,
)
from ._model import (
    JobInfo as JobInfo,
)
from ._model import (
    Migration as Migration,
)
from ._model import (
    PendingJob as PendingJob,
)
from ._model import (
    QueueJob as QueueJob,
)
from ._model import (
    QueueStats as QueueStats,
)
from ._model import (
    RecurringJobDetails as RecurringJobDetails,
)
from ._model import (
    RecurringJobInfo as RecurringJobInfo,
)
from ._model import (
    SwitchResult as SwitchResult,
)
from ._plugins import QueuePlugin as QueuePlugin
from ._plugins import QueuePluginRegistry as QueuePluginRegistry
from ._protocols import Queue as Queue
from ._proxy import QueueProxy as QueueProxy
from ._stores import FileConfigStore as FileConfigStore
from ._stores import MemoryConfigStore as MemoryConfigStore

__version__ = "0.1.0"

__all__ = [
    "BackendRefusedError",
    "BackendUnavailableError",
    "ConfigValidationError",
    "FailedJob",
    "FileConfigStore",
    "InMemoryQueue",
    "InMemoryQueueConfig",
    "InMemoryQueuePlugin",
    "Instrument",
    "InvalidScheduleError",
    "JobGroupState",
    "JobInfo",
    "JobTimeoutError",
    "MemoryConfigStore",
    "Migration",
    "PendingJob",
    "PluginNotFoundError",
    "Queue",
    "QueueError",
    "QueueFullError",
    "QueueJob",
    "QueueManager",
    "QueuePlugin",
    "QueuePluginRegistry",
    "QueueProxy",
    "QueueStats",
    "QueueStoppedError",
    "RecurringJobDetails",
    "RecurringJobInfo",
    "SerializationError",
    "SwitchResult",
    "open_queue_manager",
    "parse_config",
]


def _fix_module_names() -> None:
    # tracebacks and reprs show checkqueue_actors.X, not the private module (trio does this)
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("checkqueue_actors."):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins
                pass


_fix_module_names()
