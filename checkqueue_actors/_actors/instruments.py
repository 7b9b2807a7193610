"""Instruments: observers of a queue's jobs, called from one place in the runtime.

An instrument is any object with some of the methods of ``Instrument``. The
runtime calls them synchronously, on the task that did the work, for every
backend: ``prepare_headers`` just before a job is stored (it may add headers to
it: how a trace context travels with a job), ``job_enqueued`` once a job is
stored, ``delivery_started`` when a handler is about to run,
``delivery_finished`` once its outcome is known. They must not block. An
instrument that raises is logged (once per method) and ignored: it never breaks
an enqueue or a delivery. Metrics, tracing and live dashboards hang on this seam.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, cast

from .._state.policy import check_headers

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

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

    A class may subclass it and define only some methods: those it inherits are never
    called. Methods are called synchronously from the queue's tasks and must not block;
    an exception they raise is logged and ignored. ``queue`` is the backend queue
    doing the work (``queue.name`` is its name).

    ``prepare_headers`` is the one hook that can change a job: it runs before the
    job is stored (once per job of ``enqueue``, ``enqueue_many`` and
    ``enqueue_for_groups``), and the headers it returns are added to the job's. An
    instrument adds headers, it never replaces one: a name the job already has keeps
    the caller's value (so a job moved by a backend switch keeps the headers it was
    first enqueued with). Headers that would break the rules of ``enqueue(headers=...)``
    (64 entries, 16 KiB) are dropped with a warning (logged once) and the job is
    stored with its own. A queue whose instruments have no ``prepare_headers`` does no
    work for it.

    ``attached`` is called once per queue, when the instrument starts observing it (the
    queue is created with it, or given it by ``add_instruments``): an instrument that
    reads what a queue counts anyway (``RuntimeQueue.jobs_enqueued``,
    ``RuntimeQueue.running_by_group()``) at its own pace needs no per-job hook for it.
    """

    def attached(self, queue: Any) -> None:
        """The instrument observes ``queue`` from now on."""
        return None  # not abstract: a subclass defines only the hooks it needs

    def prepare_headers(
        self, queue: Any, job_id: str, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        """Headers to add to job ``job_id`` before it is stored (``None``: none).

        ``headers`` are the job's own (read-only). Called also for a job that turns
        out to be a duplicate of one already in the queue (then it is not stored, and
        ``job_enqueued`` is not called), or that the backend refuses.
        """
        return None  # not abstract: a subclass defines only the hooks it needs

    def job_enqueued(self, queue: Any, job: QueueJob[Any]) -> None:
        """A job was stored (not called for an id already in the queue)."""
        return None  # not abstract: a subclass defines only the hooks it needs

    def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
        """A handler of ``group`` is about to run ``job``."""
        return None  # not abstract: a subclass defines only the hooks it needs

    def delivery_finished(
        self,
        queue: Any,
        group: str,
        job: QueueJob[Any],
        outcome: DeliveryOutcome,
        duration: float,
    ) -> None:
        """A delivery ended with ``outcome`` after ``duration`` seconds of handler time.

        ``duration`` is measured by the runtime around the handler: it includes a few
        microseconds of the runtime's own bookkeeping, never time spent waiting for a
        slot or for the backend. A worker that runs jobs back to back (nothing awaited
        between them) takes one clock reading per job: each job's time starts where
        the previous one's ended, so the bookkeeping between two jobs (the instruments'
        hooks included) counts to the second.
        """
        return None  # not abstract: a subclass defines only the hooks it needs


_HOOKS = (
    "attached",
    "prepare_headers",
    "job_enqueued",
    "delivery_started",
    "delivery_finished",
)


class Instruments:
    """The instruments of one queue, with each hook's callables gathered once."""

    __slots__ = (
        "_broken",
        "attached",
        "delivery_finished",
        "delivery_started",
        "job_enqueued",
        "prepare_headers",
    )

    def __init__(self, instruments: Sequence[object]) -> None:
        self._broken: set[int] = set()
        hooks: dict[str, list[Callable[..., object]]] = {name: [] for name in _HOOKS}
        for instrument in instruments:
            found = False
            for name in _HOOKS:
                method = getattr(instrument, name, None)
                if getattr(type(instrument), name, None) is getattr(Instrument, name):
                    continue  # inherited from the protocol: does nothing, not called
                if method is not None:
                    if not callable(method):
                        msg = f"instrument {instrument!r}: {name} is not callable"
                        raise TypeError(msg)
                    hooks[name].append(method)
                    found = True
            if not found:
                msg = f"instrument {instrument!r} has none of the methods {', '.join(_HOOKS)}"
                raise TypeError(msg)
        self.attached = tuple(hooks["attached"])
        """Callables of ``attached`` (called once per queue, by the queue)."""
        self.prepare_headers = tuple(hooks["prepare_headers"])
        """Callables of ``prepare_headers`` (empty: the runtime skips ``add_headers``)."""
        self.job_enqueued = tuple(hooks["job_enqueued"])
        """Callables of ``job_enqueued`` (empty: nothing to call, and the runtime skips
        building the arguments)."""
        self.delivery_started = tuple(hooks["delivery_started"])
        self.delivery_finished = tuple(hooks["delivery_finished"])

    def add_headers(
        self, queue: object, job_id: str, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        """``headers`` with those the ``prepare_headers`` hooks add (the job's own win).

        A hook that raises, or returns something that is not a mapping of str to str,
        is logged (once) and ignored; added headers that break the rules of headers
        are dropped (logged once) and ``headers`` returned as they were.
        """
        extra: dict[str, str] | None = None  # no dict made while no hook adds one
        for hook in self.prepare_headers:
            try:
                added = hook(queue, job_id, headers)
                if added:
                    if extra is None:
                        extra = {}
                    extra.update(cast("Mapping[str, str]", added))
            except Exception:
                self._log_once(hook)
        if not extra:
            return headers
        extra.update(headers)
        try:
            return check_headers(extra)
        except (TypeError, ValueError) as exc:
            key = id(self.prepare_headers)
            if key not in self._broken:
                self._broken.add(key)
                logger.warning("headers added by instruments were dropped (logged once): %s", exc)
            return headers

    def log_once(self, hook: Callable[..., object]) -> None:
        """Log the exception being handled, raised by ``hook`` (once per hook)."""
        self._log_once(hook)

    def _log_once(self, hook: Callable[..., object]) -> None:
        key = id(hook)  # the bound methods gathered once, at start
        if key not in self._broken:
            self._broken.add(key)
            logger.exception(
                "instrument %s raised (ignored; logged once per method)",
                getattr(hook, "__qualname__", repr(hook)),
            )

    def call(self, hooks: tuple[Callable[..., object], ...], *args: object) -> None:
        """Call every callable of one hook; log (once each) and ignore what they raise."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                self._log_once(hook)
