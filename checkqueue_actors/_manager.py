"""QueueManager and QueueProxy: stable queue references and live backend switching.

Applications hold ``QueueProxy`` objects for their whole life; the manager owns
the real queues (in its own nursery) and swaps them under the proxies when an
operator picks another backend or config (CONTRACT.md, "QueueManager and
QueueProxy"; issue 4).

A switch, for each proxy (proxies switch concurrently, so a handler of one old
queue calling another proxy never waits for its own queue to stop):

1. the old queue stops gracefully; meanwhile calls still reach it, so its
   running handlers may enqueue and schedule without deadlocking;
2. the proxy's gate closes (calls made from now on wait), and calls still in
   flight on the old queue finish;
3. its recurring jobs (with details) and pending jobs (``export_pending``) are
   read from the stopped old queue, through the public protocol only;
4. the new queue, already started by the manager, is installed and every
   subscription is replayed (every consumer of every group);
5. recurring jobs are declared again with their next occurrence at the recorded
   ``next_run_at`` and pending jobs are enqueued again with their remaining
   delay; then the gate opens.

Everything that can fail without touching the old backend (plugin lookup,
config validation, connection test, creating and starting the new queues)
happens first; after that the switch always completes, and what could not be
moved is reported in ``SwitchResult.warnings``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from contextlib import asynccontextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, final

import attrs
import trio

from ._backends.memory import InMemoryQueuePlugin
from ._clock import WallClock
from ._config import parse_config, unstructure_config
from ._errors import (
    BackendUnavailableError,
    ConfigValidationError,
    PluginNotFoundError,
    QueueStoppedError,
)
from ._lifetime import single_exceptions_unwrapped
from ._model import QueueStats, RecurringJobInfo, SwitchResult
from ._protocols import Handler
from ._queue_base import check_consume_args

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable
    from types import TracebackType

    from ._model import PendingJob, RecurringJobDetails
    from ._plugins import QueuePlugin, QueuePluginRegistry
    from ._protocols import ConfigStore, Queue

__all__ = ["ACTIVE_KEY", "QueueManager", "QueueProxy", "open_queue_manager"]

logger = logging.getLogger("checkqueue_actors")

T = TypeVar("T")
R = TypeVar("R")

ACTIVE_KEY = "queue:active"
"""Config-store key of the active choice: ``{"plugin_id": ...}``, versioned by switch count."""

_PROBE_QUEUE_NAME = "checkqueue-connection-test"
"""Name of the never-started candidate queue a switch probes with ``test_connection``."""


@attrs.frozen
class _Subscription(Generic[T]):
    """One ``consume`` call, kept for replay on the next delegate."""

    handler: Handler[T]
    consumer_group: str
    max_retries: int


@attrs.define
class _ProxySwitchReport:
    """What one proxy's switch moved and what went wrong."""

    recurring: int = 0
    pending: int = 0
    lost: int = 0
    warnings: list[str] = attrs.field(factory=list[str])


def _delay_multiplier(config: object) -> float:
    """The ``delay_multiplier`` of a backend config, 1.0 when it has none."""
    value: object = getattr(config, "delay_multiplier", None)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return float(value)
    return 1.0


def _occurrence_id(job_id: str, details: RecurringJobDetails[Any]) -> str:
    """Id of the occurrence due at ``details.next_run_at`` (contract: starts with ``job_id:``)."""
    assert details.next_run_at is not None
    stamp = details.next_run_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{job_id}:{stamp}"


@final
class QueueProxy(Generic[T]):
    """A stable reference to a managed queue, whatever backend runs it.

    Implements the ``Queue`` protocol by delegating every call to the current
    backend queue. It records every subscription (each ``consume`` call) and the
    calls in flight, so that ``switch_delegate`` can wait for them, stop the old
    queue gracefully and replay the subscriptions on the new one. Get one with
    ``QueueManager.get_queue``; never construct it yourself.

    Its lifetime belongs to the manager: ``stop()`` stops this one queue for
    good (later calls raise ``QueueStoppedError``, and switches leave it alone),
    and ``async with proxy`` or ``nursery.start(proxy.run)`` raise ``RuntimeError``.
    """

    def __init__(
        self,
        name: str,
        delegate: Queue[T] | None,
        starter: Callable[[Queue[Any]], Awaitable[None]],
    ) -> None:
        self._name = name
        self._delegate = delegate
        self._starter = starter
        self._subscriptions: list[_Subscription[T]] = []
        self._gate = trio.Event()
        """Set while calls may go to the delegate; replaced by a fresh event to close it."""
        if delegate is not None:
            self._gate.set()
        self._in_flight = 0
        self._idle: trio.Event | None = None
        self._draining = False
        """True while the old delegate stops (calls still reach it)."""
        self._switching = False
        """True from the moment the old delegate stopped until the new one is installed."""
        self._stopped = False
        self._generation = 0
        self._switch_lock = trio.Lock()

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "switching" if self._switching else "active"
        return f"<QueueProxy {self._name!r} {state} -> {self._delegate!r}>"

    # -- lifetime: owned by the manager -----------------------------------------------------

    def _refuse_lifetime(self) -> NoReturn:
        msg = (
            f"queue proxy {self._name!r} is run by its QueueManager; "
            "use the manager's lifetime (open_queue_manager), not the proxy's"
        )
        raise RuntimeError(msg)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refused: the manager runs the queue behind a proxy.

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def __aenter__(self) -> QueueProxy[T]:
        """Refused: the manager runs the queue behind a proxy.

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Refused (never reached, since entering is refused).

        Raises:
          RuntimeError: always.
        """
        await trio.lowlevel.checkpoint()
        self._refuse_lifetime()

    async def stop(self) -> None:
        """Stop this one queue gracefully, for good; idempotent, never waits for a switch.

        Running handlers finish; later calls raise ``QueueStoppedError``; a backend
        switch leaves this proxy stopped. Pending jobs stay in the stopped queue
        (``export_pending`` takes them out).
        """
        self._stopped = True
        self._gate.set()  # waiters wake up and see the stop
        delegate = self._delegate
        if delegate is None:
            await trio.lowlevel.checkpoint()
            return
        await delegate.stop()

    # -- delegation ---------------------------------------------------------------------------

    def _stopped_error(self) -> QueueStoppedError:
        return QueueStoppedError(f"queue {self._name!r} has been stopped")

    async def _call(self, op: Callable[[Queue[T]], Awaitable[R]]) -> R:
        """Run ``op`` on the current delegate, waiting while a switch holds the gate."""
        while True:
            gate = self._gate
            if not gate.is_set():
                await gate.wait()
                continue  # the gate may have been closed again by a later switch
            if self._stopped:
                raise self._stopped_error()
            delegate = self._delegate
            assert delegate is not None  # the gate opens only once there is one
            generation = self._generation
            self._in_flight += 1
            try:
                return await op(delegate)
            except QueueStoppedError:
                # The old delegate stopped under this call because of a switch: nothing was
                # done, so the call goes to the new delegate (CONTRACT.md: calls made after
                # the old queue stopped wait for the switch and go to the new backend).
                if self._stopped or not (self._switching or self._generation != generation):
                    raise
            finally:
                self._in_flight -= 1
                if self._in_flight == 0 and self._idle is not None:
                    self._idle.set()

    async def _read(self, op: Callable[[Queue[T]], Awaitable[R]]) -> R:
        """Like ``_call``, but a stopped proxy still answers from its stopped queue, as a
        stopped queue itself does (stats and recurring details stay readable)."""
        delegate = self._delegate
        if self._stopped and delegate is not None:
            return await op(delegate)
        return await self._call(op)

    async def _wait_idle(self) -> None:
        while self._in_flight > 0:
            self._idle = trio.Event()
            await self._idle.wait()
        self._idle = None

    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
    ) -> str:
        """Add a job to the active backend and return its id.

        Args:
          data: The payload.
          priority: Higher runs first.
          start_delay: Seconds before the job becomes ready.
          job_id: Dedup key (see ``Queue.enqueue``).
        Returns:
          The job id.
        Raises:
          ValueError: for a non-int priority or a bad delay.
          QueueFullError: when the backend's ``max_queue_size`` jobs are pending.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        Cancellation:
          While a switch holds the gate the call waits; cancelling it then does nothing.
        """
        return await self._call(
            lambda q: q.enqueue(data, priority=priority, start_delay=start_delay, job_id=job_id)
        )

    async def consume(
        self, handler: Handler[T], *, consumer_group: str, max_retries: int = 3
    ) -> None:
        """Register one consumer in ``consumer_group``; it is replayed after every switch.

        Raises:
          ValueError: for a bad argument, or a ``max_retries`` other than the group's.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        check_consume_args(handler, consumer_group, max_retries)
        subscription = _Subscription(handler, consumer_group, max_retries)
        if self._draining and not self._stopped:
            # The old queue no longer takes consumers while it stops, and waiting for the new
            # one could deadlock a handler of the old queue (the switch waits for it): record
            # the consumer now; the switch replays it on the new queue.
            for known in self._subscriptions:
                if known.consumer_group == consumer_group and known.max_retries != max_retries:
                    msg = (
                        f"consumer group {consumer_group!r} has max_retries={known.max_retries}; "
                        f"a consumer cannot join it with max_retries={max_retries}"
                    )
                    raise ValueError(msg)
            self._subscriptions.append(subscription)
            await trio.lowlevel.checkpoint()
            return

        async def op(queue: Queue[T]) -> None:
            await queue.consume(handler, consumer_group=consumer_group, max_retries=max_retries)
            self._subscriptions.append(subscription)

        await self._call(op)

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
        """Declare (or replace) a recurring job on the active backend; it survives switches.

        Returns:
          ``job_id``.
        Raises:
          ValueError: unless exactly one of ``interval_seconds`` and ``cron_pattern``
            is given, or for a bad ``start_delay`` or priority.
          InvalidScheduleError: for an invalid cron pattern or unknown timezone.
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        return await self._call(
            lambda q: q.schedule_recurring(
                data,
                job_id=job_id,
                interval_seconds=interval_seconds,
                cron_pattern=cron_pattern,
                timezone=timezone,
                start_delay=start_delay,
                priority=priority,
            )
        )

    async def cancel_recurring(self, job_id: str) -> None:
        """Cancel a recurring job; unknown ids are a no-op.

        Raises:
          QueueStoppedError: after ``stop()`` or the manager's shutdown.
        """
        await self._call(lambda q: q.cancel_recurring(job_id))

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs (of the stopped queue after ``stop()``).

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.list_recurring_jobs())

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of a recurring job, ``None`` when unknown or cancelled.

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_recurring_job_details(job_id))

    async def get_in_flight_count(self) -> int:
        """Handlers of this queue running now (on the active backend).

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_in_flight_count())

    async def get_stats(self) -> QueueStats:
        """The active backend queue's counters (lifetime counts restart after a switch).

        After ``stop()`` they are the stopped queue's, as for a queue.

        Raises:
          QueueStoppedError: after the manager's shutdown, for a proxy that never ran.
        """
        return await self._read(lambda q: q.get_stats())

    async def test_connection(self) -> None:
        """Probe the active backend; never waits for a switch.

        Raises:
          BackendUnavailableError: when the backend cannot be reached.
        """
        delegate = self._delegate
        if delegate is None:  # created during a switch: the backend comes with the switch
            await self._gate.wait()
            delegate = self._delegate
            if delegate is None:
                raise self._stopped_error()
        await delegate.test_connection()

    async def export_pending(self) -> list[PendingJob[T]]:
        """After ``stop()``: take the jobs still pending out of the stopped queue.

        Raises:
          RuntimeError: while the queue has not been stopped.
        """
        delegate = self._delegate
        if self._stopped:
            if delegate is None:
                await trio.lowlevel.checkpoint()
                return []
            return await delegate.export_pending()
        return await self._call(lambda q: q.export_pending())

    # -- switching ----------------------------------------------------------------------------

    async def switch_delegate(self, new_queue: Queue[T]) -> None:
        """Move this proxy to ``new_queue``, losing nothing.

        Waits for the calls in flight, stops the old queue gracefully (calls made
        meanwhile still reach it), moves its recurring and pending jobs over,
        installs ``new_queue`` and replays every subscription. Calls made after
        the old queue stopped wait and go to ``new_queue``. What could not be
        moved is logged as a warning (``QueueManager.set_active_backend`` reports it).

        Args:
          new_queue: A queue that has not been started: the manager starts it in
            its nursery and owns it from then on.
        Raises:
          QueueStoppedError: if this proxy was stopped.
          RuntimeError: if ``new_queue`` was already started (nothing changes).
        """
        if self._stopped:
            raise self._stopped_error()
        await self._starter(new_queue)
        report = await self._switch(
            new_queue, _delay_multiplier(getattr(new_queue, "config", None))
        )
        for warning in report.warnings:
            logger.warning("%s", warning)

    def _attach(self, queue: Queue[T]) -> None:
        """Give a proxy created during a switch its first delegate (already started)."""
        assert self._delegate is None
        self._delegate = queue
        self._generation += 1
        self._gate.set()

    async def _shutdown(self) -> None:
        """The manager is shutting down: stop for good."""
        await self.stop()

    async def _switch(self, new: Queue[T], delay_multiplier: float) -> _ProxySwitchReport:
        """Switch to the started queue ``new``; see the module docstring for the steps."""
        async with self._switch_lock:
            report = _ProxySwitchReport()
            if self._stopped:
                await new.stop()
                return report
            old = self._delegate
            label = f"queue {self._name!r}"
            if old is not None:
                try:
                    running = await old.get_in_flight_count()
                except Exception:
                    running = 0
                if running:
                    groups = {sub.consumer_group for sub in self._subscriptions}
                    again = (
                        "; a job still pending for another consumer group is delivered "
                        "again to every group"
                        if len(groups) > 1
                        else ""
                    )
                    report.warnings.append(
                        f"{label}: {running} job(s) were running during the switch; "
                        f"they finished on the old backend{again}"
                    )
                self._draining = True
                try:
                    await old.stop()
                except Exception as exc:
                    report.warnings.append(f"{label}: stopping the old queue failed: {exc!r}")
                finally:
                    self._draining = False
            # From here (no checkpoint since the old queue stopped) calls wait for the new one.
            self._switching = True
            if self._gate.is_set():
                self._gate = trio.Event()
            try:
                await self._wait_idle()
                recurring: list[RecurringJobDetails[T]] = []
                pending: list[PendingJob[T]] = []
                if old is not None:
                    recurring = await self._read_recurring(old, report, label)
                    pending = await self._read_pending(old, report, label)
                self._delegate = new
                self._generation += 1
                for sub in list(self._subscriptions):
                    try:
                        await new.consume(
                            sub.handler,
                            consumer_group=sub.consumer_group,
                            max_retries=sub.max_retries,
                        )
                    except Exception as exc:
                        report.warnings.append(
                            f"{label}: replaying a consumer of group "
                            f"{sub.consumer_group!r} failed: {exc!r}"
                        )
                now = WallClock().now()
                for details in recurring:
                    await self._restore_recurring(new, details, now, delay_multiplier, report)
                for job in pending:
                    await self._restore_pending(new, job, delay_multiplier, report, label)
                groups = {sub.consumer_group for sub in self._subscriptions}
                if report.pending and len(groups) > 1:
                    # PendingJob does not say which groups still owed a job, and enqueue
                    # cannot target groups, so every group gets each moved job again
                    report.warnings.append(
                        f"{label}: {report.pending} pending job(s) were moved to a queue with "
                        f"{len(groups)} consumer groups; a group that had already finished "
                        "one of them runs it again"
                    )
            finally:
                self._switching = False
                self._gate.set()
            if self._is_stopped():  # stop() came during the switch: the new queue stops too
                await new.stop()
            return report

    def _is_stopped(self) -> bool:
        # a method, so type checkers do not keep the narrowing from before the awaits
        return self._stopped

    async def _read_recurring(
        self, old: Queue[T], report: _ProxySwitchReport, label: str
    ) -> list[RecurringJobDetails[T]]:
        try:
            ids = await old.list_recurring_jobs()
        except Exception as exc:
            report.warnings.append(f"{label}: cannot list recurring jobs: {exc!r}")
            return []
        found: list[RecurringJobDetails[T]] = []
        for job_id in ids:
            try:
                details = await old.get_recurring_job_details(job_id)
            except Exception as exc:
                report.lost += 1
                report.warnings.append(
                    f"{label}: recurring job {job_id!r} not migrated: "
                    f"cannot read its details: {exc!r}"
                )
                continue
            if details is not None:
                found.append(details)
        return found

    async def _read_pending(
        self, old: Queue[T], report: _ProxySwitchReport, label: str
    ) -> list[PendingJob[T]]:
        export: Callable[[], Awaitable[list[PendingJob[T]]]] | None = getattr(
            old, "export_pending", None
        )
        if export is None:
            report.warnings.append(
                f"{label}: the old backend's queue has no export_pending(); "
                "its pending jobs were not migrated"
            )
            return []
        try:
            return await export()
        except NotImplementedError:
            report.warnings.append(
                f"{label}: the old backend does not implement export_pending(); "
                "its pending jobs were not migrated"
            )
        except Exception as exc:
            report.warnings.append(
                f"{label}: exporting pending jobs failed, they were not migrated: {exc!r}"
            )
        return []

    async def _restore_recurring(
        self,
        new: Queue[T],
        details: RecurringJobDetails[T],
        now: Any,
        delay_multiplier: float,
        report: _ProxySwitchReport,
    ) -> None:
        next_run_at = details.next_run_at
        try:
            if details.interval_seconds is not None:
                # The first occurrence on the new backend is at the recorded next_run_at
                # (never early; at once if it already passed). start_delay is scaled by the
                # new backend's delay_multiplier, so divide it out.
                remaining = 0.0 if next_run_at is None else (next_run_at - now).total_seconds()
                await new.schedule_recurring(
                    details.data,
                    job_id=details.job_id,
                    interval_seconds=details.interval_seconds,
                    start_delay=max(0.0, remaining) / delay_multiplier,
                    priority=details.priority,
                )
            else:
                # A cron schedule picks its next wall-clock time after now, which is the
                # recorded next_run_at while that is still ahead; one due during the switch
                # fires at once, with the id the old backend would have given it.
                await new.schedule_recurring(
                    details.data,
                    job_id=details.job_id,
                    cron_pattern=details.cron_pattern,
                    timezone=getattr(details, "timezone", None),
                    priority=details.priority,
                )
                if next_run_at is not None and next_run_at <= now:
                    await new.enqueue(
                        details.data,
                        priority=details.priority,
                        job_id=_occurrence_id(details.job_id, details),
                    )
        except Exception as exc:
            report.lost += 1
            report.warnings.append(
                f"queue {self._name!r}: recurring job {details.job_id!r} not migrated: {exc!r}"
            )
            return
        report.recurring += 1

    async def _restore_pending(
        self,
        new: Queue[T],
        job: PendingJob[T],
        delay_multiplier: float,
        report: _ProxySwitchReport,
        label: str,
    ) -> None:
        delay = job.remaining_delay / delay_multiplier if job.remaining_delay > 0 else None
        try:
            await new.enqueue(job.data, priority=job.priority, start_delay=delay, job_id=job.id)
        except Exception as exc:
            report.lost += 1
            report.warnings.append(f"{label}: pending job {job.id!r} not migrated: {exc!r}")
            return
        report.pending += 1


def _coerce_config(plugin: QueuePlugin[Any], config: object) -> Any:
    """The plugin's attrs config from an instance, a mapping or None (defaults).

    Raises:
      ConfigValidationError: naming every bad field.
    """
    config_type = plugin.config_type
    if config is None:
        try:
            return config_type()
        except (TypeError, ValueError) as exc:
            raise ConfigValidationError(plugin.id, [f"defaults are not valid: {exc}"]) from exc
    if isinstance(config, config_type):
        # round-trip through the converter: the config is then known to be storable and
        # valid field by field (attrs.evolve or object.__setattr__ could have bypassed checks)
        return parse_config(plugin, unstructure_config(config))
    if isinstance(config, Mapping):
        return parse_config(plugin, config)  # pyright: ignore[reportUnknownArgumentType]
    raise ConfigValidationError(
        plugin.id,
        [f"config must be an instance of {config_type.__name__} or a mapping, not {config!r}"],
    )


def _lookup(registry: QueuePluginRegistry, plugin_id: str) -> QueuePlugin[Any]:
    plugin = registry.get_plugin(plugin_id)
    if plugin is None:
        if plugin_id == InMemoryQueuePlugin.id:
            # the embedded default backend is always available, registered or not, so
            # open_queue_manager(QueuePluginRegistry()) works with its defaults
            return InMemoryQueuePlugin()
        raise PluginNotFoundError(plugin_id, [p.id for p in registry.get_plugins()])
    return plugin


async def _load_stored_config(store: ConfigStore, plugin: QueuePlugin[Any]) -> Any:
    """The plugin's stored config, migrated from its stored version (defaults if none)."""
    entry = await store.get(plugin.id)
    if entry is None:
        return _coerce_config(plugin, None)
    version, raw = entry
    return parse_config(plugin, raw, version)


async def _read_active(store: ConfigStore) -> tuple[int, str] | None:
    """The stored ``(version, plugin_id)`` choice, or None."""
    entry = await store.get(ACTIVE_KEY)
    if entry is None:
        return None
    version, value = entry
    plugin_id: object = value.get("plugin_id")
    if not isinstance(plugin_id, str) or not plugin_id:
        raise ConfigValidationError(
            ACTIVE_KEY, [f"plugin_id: expected a non-empty str, got {plugin_id!r}"]
        )
    return version, plugin_id


@final
class QueueManager:
    """Owns every managed queue and the choice of backend; see ``open_queue_manager``.

    Never construct it yourself: ``open_queue_manager`` gives you one whose
    queues run in its nursery.
    """

    def __init__(
        self,
        registry: QueuePluginRegistry,
        store: ConfigStore | None,
        nursery: trio.Nursery,
        plugin: QueuePlugin[Any],
        config: Any,
        version: int,
    ) -> None:
        self._registry = registry
        self._store = store
        self._nursery = nursery
        self._plugin = plugin
        self._config = config
        self._version = version
        self._proxies: dict[str, QueueProxy[Any]] = {}
        self._latecomers: list[QueueProxy[Any]] = []
        self._switch_lock = trio.Lock()
        self._switching = False
        self._poll_scope: trio.CancelScope | None = None
        self._closed = False
        self._shut_down = trio.Event()

    def __repr__(self) -> str:
        return f"<QueueManager {self._plugin.id!r} v{self._version} queues={sorted(self._proxies)}>"

    # -- queues ---------------------------------------------------------------------------------

    def get_queue(self, name: str) -> QueueProxy[Any]:
        """The proxy of queue ``name``: the same object for every call, across switches.

        Usable at once: calls made before its backend queue has started (or while a
        switch is under way) wait.

        Raises:
          ValueError: for an empty or non-str name.
          QueueStoppedError: after the manager shut down (for a name it never saw).
        """
        proxy = self._proxies.get(name)
        if proxy is not None:
            return proxy
        if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
            msg = f"name must be a non-empty str, not {name!r}"
            raise ValueError(msg)
        if self._closed:
            msg = f"the queue manager has shut down; cannot create queue {name!r}"
            raise QueueStoppedError(msg)
        if self._switching:
            # the backend is changing: the queue is created on the new one when it is done
            proxy = QueueProxy[Any](name, None, self._start_queue)
            self._latecomers.append(proxy)
        else:
            queue = self._plugin.create_queue(name, self._config)
            proxy = QueueProxy[Any](name, queue, self._start_queue)
            self._nursery.start_soon(self._run_queue, queue)
        self._proxies[name] = proxy
        return proxy

    async def _run_queue(self, queue: Queue[Any]) -> None:
        await queue.run()

    async def _start_queue(self, queue: Queue[Any]) -> None:
        await self._nursery.start(queue.run)

    def _live_proxies(self) -> list[QueueProxy[Any]]:
        return [p for p in self._proxies.values() if not p._stopped]  # pyright: ignore[reportPrivateUsage]  # same module

    # -- the active backend -------------------------------------------------------------------

    def get_active_plugin(self) -> str:
        """Id of the active backend plugin."""
        return self._plugin.id

    def get_active_config(self) -> Any:
        """The active backend's config (an instance of the plugin's ``config_type``)."""
        return self._config

    @property
    def version(self) -> int:
        """The switch counter this manager is at (the store's ``"queue:active"`` version)."""
        return self._version

    async def set_active_backend(self, plugin_id: str, config: Any) -> SwitchResult:
        """Move every queue to ``plugin_id`` with ``config``, without losing work.

        Stops the old queues gracefully (calls made meanwhile, including from their
        running handlers, still reach them), moves their recurring jobs (next
        occurrence kept at the recorded ``next_run_at``) and pending jobs (ids, data,
        priorities and remaining delays; attempts start again at 0) to the new
        backend, replays every subscription, then persists the choice in the
        config store with a higher version. Concurrent switches run one at a time.

        Args:
          plugin_id: A registered plugin's id.
          config: The plugin's attrs config, or a mapping parsed with ``parse_config``
            (``None`` means the plugin's defaults).
        Returns:
          A ``SwitchResult``: ``success`` is False when some job could not be moved
          (each is named in ``warnings``); ``warnings`` also mentions jobs that were
          running during the switch and a backend without ``export_pending``.
        Raises:
          PluginNotFoundError: for an unknown ``plugin_id``.
          ConfigValidationError: for a bad ``config``.
          BackendUnavailableError: when the new backend fails its connection test.
          QueueStoppedError: after the manager shut down.
        In every error case the old backend stays active and untouched.
        Cancellation:
          Once the old queues begin to stop, the switch is shielded and completes.
        """
        async with self._switch_lock:
            if self._closed:
                msg = "the queue manager has shut down"
                raise QueueStoppedError(msg)
            plugin = _lookup(self._registry, plugin_id)
            parsed = _coerce_config(plugin, config)
            result = await self._switch_to(plugin, parsed)
            result.warnings.extend(await self._persist(plugin, parsed))
            return result

    async def _switch_to(self, plugin: QueuePlugin[Any], config: Any) -> SwitchResult:
        """Switch every queue (the switch lock is held)."""
        await self._probe(plugin, config)
        new_queues = await self._start_new_queues(plugin, config)
        # Point of no return: no checkpoint since the last proxy was given a new queue.
        self._switching = True
        warnings: list[str] = []
        totals = _ProxySwitchReport()
        with trio.CancelScope(shield=True):
            try:
                multiplier = _delay_multiplier(config)
                reports: list[_ProxySwitchReport] = []

                async def switch_one(proxy: QueueProxy[Any], queue: Queue[Any]) -> None:
                    reports.append(await proxy._switch(queue, multiplier))  # pyright: ignore[reportPrivateUsage]  # same module

                async with trio.open_nursery() as nursery:
                    for name, queue in new_queues.items():
                        nursery.start_soon(switch_one, self._proxies[name], queue)
                self._plugin, self._config = plugin, config
                for report in reports:
                    totals.recurring += report.recurring
                    totals.pending += report.pending
                    totals.lost += report.lost
                    warnings.extend(report.warnings)
            finally:
                self._switching = False
                await self._attach_latecomers()
        return SwitchResult(
            success=totals.lost == 0,
            migrated_recurring_jobs=totals.recurring,
            migrated_pending_jobs=totals.pending,
            warnings=warnings,
        )

    async def _probe(self, plugin: QueuePlugin[Any], config: Any) -> None:
        """Test the connection with a candidate queue that is never started."""
        candidate = plugin.create_queue(_PROBE_QUEUE_NAME, config)
        try:
            await candidate.test_connection()
        except BackendUnavailableError:
            raise
        except Exception as exc:
            address = f"{plugin.id} backend"
            raise BackendUnavailableError(address, exc) from exc
        finally:
            with trio.CancelScope(shield=True):
                await candidate.stop()

    async def _start_new_queues(
        self, plugin: QueuePlugin[Any], config: Any
    ) -> dict[str, Queue[Any]]:
        """Create and start a new queue for every live proxy; on failure stop them all."""
        started: dict[str, Queue[Any]] = {}
        try:
            while True:
                missing = [p.name for p in self._live_proxies() if p.name not in started]
                if not missing:
                    return started
                for name in missing:
                    queue = plugin.create_queue(name, config)
                    try:
                        await self._start_queue(queue)
                    except BaseException:
                        with trio.CancelScope(shield=True):
                            await queue.stop()
                        raise
                    started[name] = queue
        except BaseException:
            with trio.CancelScope(shield=True):
                for queue in started.values():
                    await queue.stop()
            raise

    async def _attach_latecomers(self) -> None:
        """Give proxies created during the switch a queue on the (now) active backend."""
        while self._latecomers:
            proxy = self._latecomers.pop(0)
            if proxy._stopped or self._closed:  # pyright: ignore[reportPrivateUsage]  # same module
                proxy._stopped = True  # pyright: ignore[reportPrivateUsage]  # same module
                proxy._gate.set()  # pyright: ignore[reportPrivateUsage]  # same module
                continue
            queue = self._plugin.create_queue(proxy.name, self._config)
            await self._start_queue(queue)
            proxy._attach(queue)  # pyright: ignore[reportPrivateUsage]  # same module

    async def _persist(self, plugin: QueuePlugin[Any], config: Any) -> list[str]:
        """Store the choice with a version above every one seen; problems become warnings."""
        store = self._store
        if store is None:
            self._version += 1
            return []
        try:
            stored = await _read_active(store)
        except Exception:
            stored = None  # a bad entry is overwritten by this choice
        version = max(self._version, stored[0] if stored is not None else 0) + 1
        try:
            await store.set(plugin.id, plugin.config_version, unstructure_config(config))
            await store.set(ACTIVE_KEY, version, {"plugin_id": plugin.id})
        except Exception as exc:
            logger.warning("queue manager: cannot persist the backend choice: %r", exc)
            self._version = version
            return [f"the backend choice could not be saved in the config store: {exc!r}"]
        self._version = version
        return []

    # -- polling --------------------------------------------------------------------------------

    def start_polling(self, interval_ms: int = 5000) -> None:
        """Follow the shared config store: switch whenever it holds a newer choice.

        Replaces a poller already running. A failed poll (store unreachable, bad
        stored config, new backend unreachable) is logged and retried at the next
        interval; it never stops the manager.

        Args:
          interval_ms: Milliseconds between polls (trio clock).
        Raises:
          ValueError: for an ``interval_ms`` that is not an int > 0.
          QueueStoppedError: after the manager shut down.
        """
        if type(interval_ms) is not int or interval_ms <= 0:
            msg = f"interval_ms must be an int > 0, not {interval_ms!r}"
            raise ValueError(msg)
        if self._closed:
            msg = "the queue manager has shut down"
            raise QueueStoppedError(msg)
        self.stop_polling()
        scope = trio.CancelScope()
        self._poll_scope = scope
        self._nursery.start_soon(self._poll_loop, scope, interval_ms / 1000)

    def stop_polling(self) -> None:
        """Stop following the config store (a switch it already began completes)."""
        scope = self._poll_scope
        if scope is not None:
            scope.cancel()
            self._poll_scope = None

    async def _poll_loop(self, scope: trio.CancelScope, interval_seconds: float) -> None:
        with scope:
            while True:
                await trio.sleep(interval_seconds)
                try:
                    await self._poll_once()
                except Exception as exc:
                    logger.warning(
                        "queue manager: polling the config store failed (retrying in %s s): %r",
                        interval_seconds,
                        exc,
                        exc_info=exc,
                    )

    async def _poll_once(self) -> None:
        store = self._store
        if store is None:
            return
        seen = await _read_active(store)
        if seen is None or seen[0] <= self._version:
            return
        async with self._switch_lock:
            if self._closed:
                return
            seen = await _read_active(store)  # again: a switch may have run meanwhile
            if seen is None or seen[0] <= self._version:
                return
            version, plugin_id = seen
            plugin = _lookup(self._registry, plugin_id)
            config = await _load_stored_config(store, plugin)
            if plugin.id == self._plugin.id and config == self._config:
                self._version = version
                return
            result = await self._switch_to(plugin, config)  # shielded once it begins
            self._version = version
            logger.info(
                "queue manager: followed the config store to %r (version %d): %s",
                plugin.id,
                version,
                result,
            )
            for warning in result.warnings:
                logger.warning("queue manager: %s", warning)

    # -- monitoring -----------------------------------------------------------------------------

    async def get_in_flight_job_count(self) -> int:
        """Handlers running now, over every queue."""
        total = 0
        for proxy in self._live_proxies():
            total += await proxy.get_in_flight_count()
        return total

    async def get_aggregated_stats(self) -> QueueStats:
        """Every live queue's ``QueueStats``, summed field by field."""
        pending = processing = completed = failed = groups = 0
        for proxy in self._live_proxies():
            stats = await proxy.get_stats()
            pending += stats.pending
            processing += stats.processing
            completed += stats.completed
            failed += stats.failed
            groups += stats.consumer_groups
        return QueueStats(
            pending=pending,
            processing=processing,
            completed=completed,
            failed=failed,
            consumer_groups=groups,
        )

    async def list_all_recurring_jobs(self) -> list[RecurringJobInfo]:
        """Every active recurring job of every live queue, with its schedule."""
        found: list[RecurringJobInfo] = []
        for proxy in self._live_proxies():
            for job_id in await proxy.list_recurring_jobs():
                details = await proxy.get_recurring_job_details(job_id)
                if details is None:
                    continue
                found.append(
                    RecurringJobInfo(
                        queue_name=proxy.name,
                        job_id=details.job_id,
                        interval_seconds=details.interval_seconds,
                        cron_pattern=details.cron_pattern,
                        next_run_at=details.next_run_at,
                    )
                )
        return found

    # -- shutdown -------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop polling and every queue gracefully (running handlers finish); idempotent.

        A switch under way completes first. Leaving ``open_queue_manager`` does the same.
        """
        self.stop_polling()
        if self._closed:
            await self._shut_down.wait()
            return
        self._closed = True
        try:
            async with self._switch_lock, trio.open_nursery() as nursery:
                for proxy in list(self._proxies.values()):
                    nursery.start_soon(proxy._shutdown)  # pyright: ignore[reportPrivateUsage]  # same module
        finally:
            self._shut_down.set()


@asynccontextmanager
async def open_queue_manager(
    registry: QueuePluginRegistry,
    *,
    config_store: ConfigStore | None = None,
    default_plugin: str = "memory",
    default_config: Any = None,
) -> AsyncGenerator[QueueManager, None]:
    """Open a queue manager that owns every queue it creates.

    On entry the active backend is the one stored in ``config_store``
    (``"queue:active"`` and the plugin's config, migrated from its stored
    version), or else ``default_plugin`` with ``default_config``. Leaving the
    block stops polling and every queue gracefully.

    Args:
      registry: The plugins the manager may switch between.
      config_store: Where the backend choice is kept and shared (optional).
      default_plugin: The plugin used when the store holds no choice.
      default_config: Its config (attrs instance or mapping); ``None`` means the
        plugin's defaults.
    Yields:
      The ``QueueManager``.
    Raises:
      PluginNotFoundError: when the stored or default plugin is not registered.
      ConfigValidationError: when the stored or default config is invalid.
    """
    stored = await _read_active(config_store) if config_store is not None else None
    if config_store is not None and stored is not None:
        version, plugin_id = stored
        plugin = _lookup(registry, plugin_id)
        config = await _load_stored_config(config_store, plugin)
    else:
        version = 0
        plugin = _lookup(registry, default_plugin)
        config = _coerce_config(plugin, default_config)
    with single_exceptions_unwrapped():
        async with trio.open_nursery() as nursery:
            manager = QueueManager(registry, config_store, nursery, plugin, config, version)
            try:
                yield manager
            finally:
                await manager.shutdown()
