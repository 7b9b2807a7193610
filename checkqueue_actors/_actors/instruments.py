"""Instruments: observers of a queue's jobs, called from one place in the runtime.

An instrument is any object with some of the methods of ``Instrument``. The
runtime calls them synchronously, on the task that did the work, for every
backend: ``job_enqueued`` once a job is stored, ``delivery_started`` when a
handler is about to run, ``delivery_finished`` once its outcome is known. They
must not block. An instrument that raises is logged (once per method) and
ignored: it never breaks an enqueue or a delivery. Metrics, tracing and live
dashboards hang on this seam.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._model import QueueJob

__all__ = ["DeliveryOutcome", "Instrument", "Instruments"]

logger = logging.getLogger("checkqueue_actors")

DeliveryOutcome: TypeAlias = Literal[
    "completed", "retrying", "failed", "timed_out", "cancelled", "released"
]
"""How a delivery ended: the handler returned (``completed``); it failed and its group
retries it (``retrying``) or gives up (``failed``); it ran past its timeout
(``timed_out``, retried or failed like any failure); it was cancelled (``cancelled``);
or it was given back unrun or interrupted (``released``: not an attempt)."""


class Instrument(Protocol):
    """Observes a queue. Every method is optional: define only those you need.

    Methods are called synchronously from the queue's tasks and must not block;
    an exception they raise is logged and ignored. ``queue`` is the backend queue
    doing the work (``queue.name`` is its name).
    """

    def job_enqueued(self, queue: Any, job: QueueJob[Any]) -> None:
        """A job was stored (not called for an id already in the queue)."""

    def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
        """A handler of ``group`` is about to run ``job``."""

    def delivery_finished(
        self,
        queue: Any,
        group: str,
        job: QueueJob[Any],
        outcome: DeliveryOutcome,
        duration: float,
    ) -> None:
        """A delivery ended with ``outcome`` after ``duration`` seconds of handler time."""


_HOOKS = ("job_enqueued", "delivery_started", "delivery_finished")


class Instruments:
    """The instruments of one queue, with each hook's callables gathered once."""

    __slots__ = ("_broken", "delivery_finished", "delivery_started", "job_enqueued")

    def __init__(self, instruments: Sequence[object]) -> None:
        self._broken: set[int] = set()
        hooks: dict[str, list[Callable[..., object]]] = {name: [] for name in _HOOKS}
        for instrument in instruments:
            found = False
            for name in _HOOKS:
                method = getattr(instrument, name, None)
                if method is not None:
                    if not callable(method):
                        msg = f"instrument {instrument!r}: {name} is not callable"
                        raise TypeError(msg)
                    hooks[name].append(method)
                    found = True
            if not found:
                msg = f"instrument {instrument!r} has none of the methods {', '.join(_HOOKS)}"
                raise TypeError(msg)
        self.job_enqueued = tuple(hooks["job_enqueued"])
        """Callables of ``job_enqueued`` (empty: nothing to call, and the runtime skips
        building the arguments)."""
        self.delivery_started = tuple(hooks["delivery_started"])
        self.delivery_finished = tuple(hooks["delivery_finished"])

    def call(self, hooks: tuple[Callable[..., object], ...], *args: object) -> None:
        """Call every callable of one hook; log (once each) and ignore what they raise."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                key = id(hook)  # the bound methods gathered once, at start
                if key not in self._broken:
                    self._broken.add(key)
                    logger.exception(
                        "instrument %s raised (ignored; logged once per method)",
                        getattr(hook, "__qualname__", repr(hook)),
                    )
