"""The package root exports exactly the public API's names, under its own module name."""

from __future__ import annotations

import subprocess
import sys

import checkqueue_actors

PUBLIC_NAMES = {
    # data
    "FailedJob",
    "JobGroupState",
    "JobInfo",
    "QueueJob",
    "QueueStats",
    "RecurringJobDetails",
    "RecurringJobInfo",
    "SwitchResult",
    "PendingJob",
    "Migration",
    # queues and the in-memory backend
    "Queue",
    "InMemoryQueueConfig",
    "InMemoryQueue",
    "InMemoryQueuePlugin",
    # plugins and configs
    "QueuePlugin",
    "parse_config",
    "QueuePluginRegistry",
    # manager
    "open_queue_manager",
    "QueueManager",
    "QueueProxy",
    "MemoryConfigStore",
    "FileConfigStore",
    # errors
    "QueueError",
    "QueueFullError",
    "QueueStoppedError",
    "ConfigValidationError",
    "PluginNotFoundError",
    "BackendUnavailableError",
    "BackendRefusedError",
    "InvalidScheduleError",
    "SerializationError",
    "JobTimeoutError",
    # operating a queue
    "Instrument",
}


def test_all_is_the_documented_public_api() -> None:
    """__all__ holds exactly the names the public API promises at the package root."""
    assert set(checkqueue_actors.__all__) == PUBLIC_NAMES
    assert len(checkqueue_actors.__all__) == len(PUBLIC_NAMES)


def test_names_resolve_under_the_package() -> None:
    """Every exported class or function reports ``checkqueue_actors`` as its module."""
    for name in checkqueue_actors.__all__:
        obj = getattr(checkqueue_actors, name)
        assert obj.__module__ == "checkqueue_actors", name


def test_errors_share_one_root() -> None:
    """Every error subclasses QueueError; schedule and config errors are ValueErrors too."""
    for name in checkqueue_actors.__all__:
        obj = getattr(checkqueue_actors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, checkqueue_actors.QueueError), name
    assert issubclass(checkqueue_actors.InvalidScheduleError, ValueError)
    assert issubclass(checkqueue_actors.ConfigValidationError, ValueError)


def test_import_leaves_coredis_out() -> None:
    """``import checkqueue_actors`` does not import coredis (only the Redis module may)."""
    code = "import sys, checkqueue_actors; print('coredis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_py_typed_is_shipped() -> None:
    """The package is marked as typed."""
    from importlib.resources import files

    assert files("checkqueue_actors").joinpath("py.typed").is_file()


def test_the_storage_module_is_the_backend_authors_api() -> None:
    """``checkqueue_actors.storage`` exports the storage protocol and the runtime queue."""
    import checkqueue_actors.storage as storage

    assert set(storage.__all__) == {
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
    }
    for name in storage.__all__:
        obj = getattr(storage, name)
        if isinstance(obj, type):
            assert obj.__module__ == "checkqueue_actors.storage", name
    assert issubclass(checkqueue_actors.InMemoryQueue, storage.RuntimeQueue)
