"""QueueManager: owns every managed queue and the choice of backend.

Applications hold ``QueueProxy`` objects (``_proxy.py``) for their whole life;
the manager owns the real queues (in its own nursery) and swaps them under the
proxies when an operator picks another backend or config, or when polling finds
a newer choice in the shared config store, where it also persists its own.

Everything that can fail without touching the old backend (plugin lookup,
config validation, connection test, creating and starting the new queues)
happens first; after that the switch always completes: each proxy moves its
own jobs (``QueueProxy._switch``, following the plan of ``_migration.py``), and
what could not be moved is reported in ``SwitchResult.warnings``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, final

import trio

from ._backends.memory import InMemoryQueuePlugin
from ._config import parse_config, unstructure_config
from ._errors import (
    BackendUnavailableError,
    ConfigValidationError,
    PluginNotFoundError,
    QueueStoppedError,
)
from ._lifetime import single_exceptions_unwrapped
from ._migration import combine_reports, delay_multiplier_of
from ._model import QueueStats, RecurringJobInfo, SwitchResult
from ._proxy import QueueProxy
from ._queue_base import check_grace_period, current_handler_queue
from ._state.policy import check_name
from ._stores import StaleVersionError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Sequence

    from ._migration import MigrationReport
    from ._plugins import QueuePlugin, QueuePluginRegistry
    from ._protocols import ConfigStore, Queue

__all__ = ["ACTIVE_KEY", "QueueManager", "open_queue_manager"]

logger = logging.getLogger("checkqueue_actors")

ACTIVE_KEY = "queue:active"
"""Config-store key of the active choice: ``{"plugin_id": ...}``, versioned by switch count."""

_PERSIST_ATTEMPTS = 5
"""Times a switch tries to save its choice while other managers keep saving theirs."""

_PROBE_QUEUE_NAME = "checkqueue-connection-test"
"""Name of the never-started candidate queue a switch probes with ``test_connection``."""


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


async def _stored_version(store: ConfigStore, key: str) -> int:
    """The version ``key`` holds in ``store`` (0: never set)."""
    entry = await store.get(key)
    return 0 if entry is None else entry[0]


def _takes_expected_version(store: ConfigStore) -> bool:
    """True when ``store.set`` takes ``expected_version`` (a third-party store may not)."""
    try:
        parameters = inspect.signature(store.set).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "expected_version" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


async def _compare_and_set(
    store: ConfigStore, key: str, version: int, value: dict[str, Any], expected: int
) -> None:
    """``store.set`` that writes only if ``key`` still holds version ``expected``.

    A store whose ``set`` takes no ``expected_version`` (a third-party one) is read
    first: the check is then not atomic with the write.

    Raises:
      StaleVersionError: another writer came first; nothing was written.
    """
    if _takes_expected_version(store):
        await store.set(key, version, value, expected_version=expected)  # type: ignore[call-arg]  # checked above
        return
    current = await _stored_version(store, key)
    if current != expected:
        raise StaleVersionError(key, version, expected, current)
    await store.set(key, version, value)


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


def _storage_location(plugin: QueuePlugin[Any], config: Any) -> str | None:
    """Where ``plugin`` keeps the queues of ``config``, if it says (its optional
    ``storage_location(config) -> str | None``; None: every queue keeps its own)."""
    locate: Callable[[Any], object] | None = getattr(plugin, "storage_location", None)
    if locate is None:
        return None
    location = locate(config)
    return location if isinstance(location, str) else None


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
        instruments: Sequence[object] = (),
        switch_grace_period: float | None = None,
    ) -> None:
        self._registry = registry
        self._switch_grace_period = check_grace_period(switch_grace_period)
        self._instruments = tuple(instruments)
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
          ValueError: for a name breaking the rules of ``policy.check_name`` (a
            ``TypeError`` too for a non-str).
          QueueStoppedError: after the manager shut down (for a name it never saw).
        """
        proxy = self._proxies.get(name)
        if proxy is not None:
            return proxy
        check_name("queue name", name)
        if self._closed:
            msg = f"the queue manager has shut down; cannot create queue {name!r}"
            raise QueueStoppedError(msg)
        if self._switching:
            # the backend is changing: the queue is created on the new one when it is done
            proxy = QueueProxy[Any](name, None, self._start_queue)
            self._latecomers.append(proxy)
        else:
            queue = self._create_queue(self._plugin, name, self._config)
            proxy = QueueProxy[Any](name, queue, self._start_queue)
            self._nursery.start_soon(self._run_queue, queue)
        self._proxies[name] = proxy
        return proxy

    def get_queues(self) -> list[QueueProxy[Any]]:
        """The proxies of every queue created so far and not stopped, in creation order."""
        return self._live_proxies()

    def _create_queue(self, plugin: QueuePlugin[Any], name: str, config: Any) -> Queue[Any]:
        """A new queue of ``plugin``, observed by the manager's instruments."""
        queue = plugin.create_queue(name, config)
        if self._instruments:
            add: Callable[[Sequence[object]], None] | None = getattr(queue, "add_instruments", None)
            if add is None:
                logger.warning(
                    "queue %r of plugin %r takes no instruments: they will not observe it",
                    name,
                    plugin.id,
                )
            else:
                add(self._instruments)
        return queue

    async def _run_queue(self, queue: Queue[Any]) -> None:
        await queue.run()

    async def _start_queue(self, queue: Queue[Any]) -> None:
        await self._nursery.start(queue.run)

    def _refuse_from_handler(self, call: str) -> None:
        """Raise if the current task runs a handler of one of this manager's queues.

        Such a call would wait for its own handler to finish (a switch and a shutdown
        both stop the queues gracefully), so it would never return.
        """
        queue = current_handler_queue.get()
        if queue is None:
            return
        for proxy in self._proxies.values():
            if proxy._runs_on(queue):  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies
                msg = (
                    f"{call} cannot be called from inside a handler of queue {proxy.name!r}: "
                    "it waits for the running handlers to finish, this one included, so it "
                    "would never return; call it from a task outside the handler (for "
                    "example one started in a nursery the handler does not run in)"
                )
                raise RuntimeError(msg)

    def _live_proxies(self) -> list[QueueProxy[Any]]:
        return [p for p in self._proxies.values() if not p._is_stopped()]  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies

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

    async def set_active_backend(
        self, plugin_id: str, config: Any, *, grace_period: float | None = None
    ) -> SwitchResult:
        """Move every queue to ``plugin_id`` with ``config``, without losing work.

        Stops the old queues gracefully (calls made meanwhile, including from their
        running handlers, still reach them; with a grace period, the handlers still
        running once it has passed are cancelled and their jobs released and moved
        like the pending ones), moves their recurring jobs (next
        occurrence kept at the recorded ``next_run_at``) and pending jobs (ids, data,
        priorities and remaining delays; attempts start again at 0) to the new
        backend, replays every subscription, then persists the choice in the
        config store with a higher version. Concurrent switches run one at a time.

        Args:
          plugin_id: A registered plugin's id.
          config: The plugin's attrs config, or a mapping parsed with ``parse_config``
            (``None`` means the plugin's defaults).
          grace_period: Seconds the old queues' running handlers may take before they
            are cancelled (``math.inf``: wait for them however long they run); ``None``
            means the manager's ``switch_grace_period`` (see ``open_queue_manager``).
        Returns:
          A ``SwitchResult``: ``success`` is False when some job could not be moved
          (each is named in ``warnings``); ``warnings`` also mentions jobs that were
          running during the switch (finished on the old backend, or released once the
          grace period passed, each named) and a backend without ``export_pending``.
        Raises:
          ValueError: for a ``grace_period`` that is not ``None`` or a number >= 0.
          PluginNotFoundError: for an unknown ``plugin_id``.
          ConfigValidationError: for a bad ``config``, or one that keeps its queues
            where the active config does (the same Redis server, database and key
            prefix): its old and new queues would run on the same data at once.
          BackendUnavailableError: when the new backend fails its connection test.
          QueueStoppedError: after the manager shut down.
          RuntimeError: when called from inside a handler of one of the manager's
            queues (it would wait for that handler to finish, and never return).
        In every error case the old backend stays active and untouched.
        Cancellation:
          Once the old queues begin to stop, the switch is shielded and completes.
        """
        self._refuse_from_handler("set_active_backend()")
        grace = check_grace_period(grace_period)
        if grace is None:
            grace = self._switch_grace_period
        async with self._switch_lock:
            if self._closed:
                msg = "the queue manager has shut down"
                raise QueueStoppedError(msg)
            plugin = _lookup(self._registry, plugin_id)
            parsed = _coerce_config(plugin, config)
            self._refuse_same_location(plugin, parsed)
            result = await self._switch_to(plugin, parsed, grace)
            result.warnings.extend(await self._persist(plugin, parsed))
            return result

    def _refuse_same_location(self, plugin: QueuePlugin[Any], config: Any) -> None:
        """Raise if ``config`` keeps its queues where the active config does.

        A switch starts the new queues before it stops the old ones; on the same keys
        (one Redis server, database and key prefix) both would run on one set of jobs
        at once, and the move would enqueue each pending job back onto the keys it was
        taken from.

        Raises:
          ConfigValidationError: naming the location (never a password).
        """
        location = _storage_location(plugin, config)
        if location is None or location != _storage_location(self._plugin, self._config):
            return
        raise ConfigValidationError(
            plugin.id,
            [
                f"this config keeps its queues where the active one does ({location}): "
                "a switch would run the old and the new queues on the same data at once; "
                "switch to another location (for Redis, another key_prefix or database), "
                "and the switch moves every job there"
            ],
        )

    async def _switch_to(
        self, plugin: QueuePlugin[Any], config: Any, grace_period: float | None
    ) -> SwitchResult:
        """Switch every queue (the switch lock is held)."""
        await self._probe(plugin, config)
        new_queues = await self._start_new_queues(plugin, config)
        # Point of no return: no checkpoint since the last proxy was given a new queue.
        self._switching = True
        reports: list[MigrationReport] = []
        with trio.CancelScope(shield=True):
            try:
                multiplier = delay_multiplier_of(config)

                async def switch_one(proxy: QueueProxy[Any], queue: Queue[Any]) -> None:
                    reports.append(await proxy._switch(queue, multiplier, grace_period))  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies

                async with trio.open_nursery() as nursery:
                    for name, queue in new_queues.items():
                        nursery.start_soon(switch_one, self._proxies[name], queue)
                self._plugin, self._config = plugin, config
            finally:
                self._switching = False
                await self._attach_latecomers()
        total = combine_reports(reports)
        return SwitchResult(
            success=total.success,
            migrated_recurring_jobs=total.recurring,
            migrated_pending_jobs=total.pending,
            warnings=list(total.warnings),
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
                    queue = self._create_queue(plugin, name, config)
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
            if self._closed:
                proxy._abandon()  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies
                continue
            if not proxy._awaits_first_queue():  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies
                continue  # stopped meanwhile, or given a queue by switch_delegate
            queue = self._create_queue(self._plugin, proxy.name, self._config)
            await self._start_queue(queue)
            proxy._attach(queue)  # pyright: ignore[reportPrivateUsage]  # the manager's handle on its proxies

    async def _persist(self, plugin: QueuePlugin[Any], config: Any) -> list[str]:
        """Store the choice with a version above every one seen; problems become warnings.

        The plugin's config is written first, then the choice, as a compare-and-set:
        written only if ``"queue:active"`` still holds the version read just before.
        When another manager wrote in between (a switch at the same instant), both
        are written again over its choice, with the next version, which that manager
        then follows at its next poll: racing managers end on one backend, the last
        to save, instead of each believing it saved the same version.
        """
        store = self._store
        if store is None:
            self._version += 1
            return []
        raw = unstructure_config(config)
        version = self._version + 1
        try:
            for _ in range(_PERSIST_ATTEMPTS):
                expected = await _stored_version(store, ACTIVE_KEY)
                version = max(self._version, expected) + 1
                await store.set(plugin.id, plugin.config_version, raw)
                try:
                    await _compare_and_set(
                        store, ACTIVE_KEY, version, {"plugin_id": plugin.id}, expected
                    )
                except StaleVersionError as exc:
                    logger.info(
                        "queue manager: another manager saved its backend choice (version %d) "
                        "at the same time; saving this one over it",
                        exc.current_version,
                    )
                    continue
                self._version = version
                return []
        except Exception as exc:
            return self._not_saved(version, repr(exc))
        return self._not_saved(
            version, f"other managers saved choices of their own {_PERSIST_ATTEMPTS} times over"
        )

    def _not_saved(self, version: int, why: str) -> list[str]:
        logger.warning("queue manager: cannot persist the backend choice: %s", why)
        self._version = version
        return [f"the backend choice could not be saved in the config store: {why}"]

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
            self._refuse_same_location(plugin, config)
            # shielded once it begins
            result = await self._switch_to(plugin, config, self._switch_grace_period)
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

    async def shutdown(self, *, grace_period: float | None = None) -> None:
        """Stop polling and every queue gracefully (running handlers finish); idempotent.

        A switch under way completes first. Leaving ``open_queue_manager`` does the same.
        A call made while another is stopping the queues waits for it; with a shorter
        ``grace_period`` (counted from this call) it shortens that stop's (``0``: the
        running handlers are cancelled at once and their deliveries released).

        Args:
          grace_period: ``None`` lets running handlers finish however long they take;
            seconds >= 0: those still running once it has passed are cancelled and
            their deliveries released (see ``Queue.stop``).
        Raises:
          ValueError: for a ``grace_period`` that is not ``None`` or a number >= 0.
          RuntimeError: when called from inside a handler of one of the manager's
            queues (it would wait for that handler to finish, and never return).
        """
        self._refuse_from_handler("shutdown()")
        grace = check_grace_period(grace_period)
        self.stop_polling()
        if self._closed:
            if grace is not None and not self._shut_down.is_set():
                async with trio.open_nursery() as nursery:
                    for proxy in list(self._proxies.values()):
                        nursery.start_soon(partial(proxy.stop, grace_period=grace))
            await self._shut_down.wait()
            return
        self._closed = True
        try:
            async with self._switch_lock, trio.open_nursery() as nursery:
                for proxy in list(self._proxies.values()):
                    nursery.start_soon(partial(proxy.stop, grace_period=grace))
        finally:
            self._shut_down.set()


@asynccontextmanager
async def open_queue_manager(
    registry: QueuePluginRegistry,
    *,
    config_store: ConfigStore | None = None,
    default_plugin: str = "memory",
    default_config: Any = None,
    instruments: Sequence[object] = (),
    switch_grace_period: float | None = None,
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
      instruments: Observers of every queue the manager runs, on every backend it
        switches to (see ``Instrument``).
      switch_grace_period: The grace period of a switch that names none (every switch
        polling starts, too): seconds the old queues' running handlers may take before
        they are cancelled and their jobs released and moved. ``None`` (the default)
        waits for them however long they run.
    Yields:
      The ``QueueManager``.
    Raises:
      ValueError: for a ``switch_grace_period`` that is not ``None`` or a number >= 0.
      PluginNotFoundError: when the stored or default plugin is not registered.
      ConfigValidationError: when the stored or default config is invalid.
    """
    check_grace_period(switch_grace_period)
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
            manager = QueueManager(
                registry,
                config_store,
                nursery,
                plugin,
                config,
                version,
                instruments,
                switch_grace_period,
            )
            try:
                yield manager
            finally:
                await manager.shutdown()
