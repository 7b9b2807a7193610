"""The exceptions this package raises on purpose; every one subclasses QueueError."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BackendRefusedError",
    "BackendUnavailableError",
    "ConfigValidationError",
    "InvalidScheduleError",
    "JobTimeoutError",
    "PluginNotFoundError",
    "QueueError",
    "QueueFullError",
    "QueueStoppedError",
    "SerializationError",
]


class QueueError(Exception):
    """Base class of every error this package raises on purpose."""


class QueueFullError(QueueError):
    """``enqueue()`` found ``max_queue_size`` jobs already pending; nothing was stored."""


class QueueStoppedError(QueueError):
    """The queue has stopped (or is stopping and no longer takes this call)."""


class ConfigValidationError(QueueError, ValueError):
    """A backend config failed migration, structuring or validation.

    Attributes:
      plugin_id: The plugin whose config was rejected.
      errors: One ``"field: why"`` line for every bad field.
    """

    def __init__(self, plugin_id: str, errors: Sequence[str]) -> None:
        self.plugin_id = plugin_id
        self.errors = list(errors)
        lines = "; ".join(self.errors) if self.errors else "no detail"
        super().__init__(f"invalid config for plugin {plugin_id!r}: {lines}")


class PluginNotFoundError(QueueError, LookupError):
    """No plugin with this id is registered.

    Attributes:
      plugin_id: The id that was asked for.
    """

    def __init__(self, plugin_id: str, known: Sequence[str] = ()) -> None:
        self.plugin_id = plugin_id
        hint = f" (registered: {', '.join(sorted(known))})" if known else " (none registered)"
        super().__init__(f"no queue plugin with id {plugin_id!r}{hint}")

    def __str__(self) -> str:  # LookupError would quote the whole message like a KeyError
        return str(self.args[0])


class BackendUnavailableError(QueueError):
    """The backend cannot be reached.

    Attributes:
      address: Where the backend was looked for (a URL without its password).
      cause: The underlying exception.
    """

    def __init__(self, address: str, cause: BaseException | str) -> None:
        self.address = address
        self.cause = cause
        super().__init__(f"cannot reach backend at {address}: {cause}")


class BackendRefusedError(QueueError):
    """The backend was reached and refused the operation (permissions, out of memory,
    a read-only replica, a script error).

    It is never reported as ``BackendUnavailableError``. A queue whose backend refuses
    its keys or scripts fails to start with it; at run time a refusal is logged
    (ERROR, once per kind of refusal per minute) and retried with backoff, and
    ``enqueue`` raises it at once. No exception message or log line ever contains a
    password.

    Attributes:
      address: Where the backend is (a URL without its password).
      kind: The kind of refusal, e.g. ``"NOPERM"``, ``"OOM"``, ``"READONLY"``, ``"ERR"``.
      detail: What the backend said.
    """

    def __init__(self, address: str, kind: str, detail: str) -> None:
        self.address = address
        self.kind = kind
        self.detail = detail
        super().__init__(f"backend at {address} refused the operation ({kind}): {detail}")


class InvalidScheduleError(QueueError, ValueError):
    """A cron pattern that cannot be parsed, or an unknown IANA timezone."""


class SerializationError(QueueError, ValueError):
    """A payload a durable backend cannot encode (or one over its size limit).

    Raised by ``enqueue``; nothing is stored.
    """


class JobTimeoutError(QueueError, TimeoutError):
    """A delivery ran past its timeout (``enqueue(timeout=...)``, else the group's
    ``consume(timeout=...)``): its handler was cancelled, and the delivery failed with
    this error, retried per ``max_retries`` like any failure.

    Attributes:
      job_id: The job whose delivery timed out.
      timeout: The timeout that applied, in seconds.
    """

    def __init__(self, job_id: str, timeout: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        super().__init__(f"job {job_id!r} ran past its timeout of {timeout:g} s")
