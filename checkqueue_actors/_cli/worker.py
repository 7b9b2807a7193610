"""``worker MODULE:FUNCTION``: run the consumers an application declares, until a signal.

``FUNCTION`` is ``async def setup(manager: QueueManager) -> None``: it declares consumers
(``await manager.get_queue(name).consume(...)``) and recurring jobs, then returns. The
worker opens a ``QueueManager`` on the chosen backend, calls it, and runs until SIGTERM
or SIGINT: the first stops every queue gracefully (running handlers get
``--grace-period`` seconds, then are cancelled and their deliveries released), a second
one stops at once (running handlers cancelled, deliveries released).

Exit statuses: 0 after a clean stop; 1 after a crash or a forced stop (second signal);
2 for a bad argument; 3 when ``MODULE:FUNCTION`` cannot be imported, is not an async
function, or raises; 4 when the backend cannot be reached. Each error is one line.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import math
import os
import signal
import sys
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import trio

from .._errors import BackendUnavailableError
from .._manager import open_queue_manager
from .._plugins import QueuePluginRegistry
from ._logs import FIELDS, configure_logging
from ._parser import EXIT_CRASHED, EXIT_OK, EXIT_SETUP, EXIT_UNREACHABLE, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import FrameType

    from .._manager import QueueManager
    from .._model import QueueJob
    from .._plugins import QueuePlugin

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME: Final = "worker"
HELP: Final = "run the consumers declared by an async setup function until SIGTERM or SIGINT"

URL_VARIABLE: Final = "CHECKQUEUE_URL"
"""The environment variable read when ``--url`` is not given."""

logger = logging.getLogger("checkqueue_actors.worker")

_PROBE_QUEUE: Final = "checkqueue-worker-probe"


class _SetupError(Exception):
    """The worker cannot start: one line says why (``status`` is the exit status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"not a number of seconds: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if math.isnan(value) or value < 0:
        msg = f"must be a number of seconds >= 0 (or inf), not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        msg = f"must be a port number in 0..65535, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be an int >= 1, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's arguments."""
    parser.add_argument(
        "target",
        metavar="MODULE:FUNCTION",
        help="async def FUNCTION(manager: QueueManager) that declares consumers and schedules",
    )
    parser.add_argument(
        "--backend",
        choices=("memory", "redis"),
        default=None,
        help="the backend (default: redis when a URL is given, else memory)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"Redis URL, redis:// or rediss:// (default: ${URL_VARIABLE})",
    )
    parser.add_argument(
        "--key-prefix", default=None, help="Redis key prefix (default: the backend's, cq)"
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        default=None,
        help="handlers running at once per queue (default: the backend's, 10)",
    )
    parser.add_argument(
        "--grace-period",
        type=_grace,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, seconds running handlers may take to finish before they "
        "are cancelled and their jobs released (default: 30; inf: wait for them)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (needs the metrics extra; "
        "0: any free port, logged)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics server binds"
    )
    parser.add_argument(
        "--instrument",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="an instrument to attach, or a function returning one (repeatable)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )


def _load(target: str, what: str) -> object:
    """The object ``MODULE:NAME`` names (the current directory is importable).

    Raises:
      _SetupError: naming what is wrong, in one line.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        msg = f"{what} must be MODULE:NAME (like myapp.jobs:setup), not {target!r}"
        raise _SetupError(msg, EXIT_USAGE)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        msg = f"cannot import {module_name!r} (from {target!r}): {type(exc).__name__}: {exc}"
        raise _SetupError(msg, EXIT_SETUP) from None
    found: object = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            msg = f"module {module_name!r} has no {attr!r} (from {target!r})"
            raise _SetupError(msg, EXIT_SETUP) from None
    return found


def _backend(args: argparse.Namespace) -> tuple[QueuePlugin[Any], Any, str]:
    """The plugin, its config and how to name it in the logs (never with a password)."""
    url: str | None = args.url
    backend: str | None = args.backend
    if backend is None:
        backend = "redis" if url is not None or os.environ.get(URL_VARIABLE) else "memory"
    if backend == "memory":
        if url is not None:
            msg = "--url applies to --backend redis only"
            raise _SetupError(msg, EXIT_USAGE)
        if args.key_prefix is not None:
            msg = "--key-prefix applies to --backend redis only"
            raise _SetupError(msg, EXIT_USAGE)
        from .._backends.memory import InMemoryQueueConfig, InMemoryQueuePlugin

        options: dict[str, Any] = {}
        if args.concurrency is not None:
            options["concurrency"] = args.concurrency
        try:
            config = InMemoryQueueConfig(**options)
        except (TypeError, ValueError) as exc:
            msg = f"invalid option: {exc}"
            raise _SetupError(msg, EXIT_USAGE) from None
        # Any: the plugins are QueuePlugins (typed loosely while the Queue protocol grows)
        memory: Any = InMemoryQueuePlugin()
        return memory, config, "memory"
    if url is None:
        url = os.environ.get(URL_VARIABLE)
    if not url:
        msg = f"--backend redis needs --url or ${URL_VARIABLE}"
        raise _SetupError(msg, EXIT_USAGE)
    try:
        from ..redis import RedisQueueConfig, RedisQueuePlugin
    except ImportError:
        msg = "the redis backend needs coredis: pip install 'checkqueue_actors[redis]'"
        raise _SetupError(msg, EXIT_USAGE) from None
    from .._backends.redis._endpoint import redact_url

    options = {"url": url}
    if args.key_prefix is not None:
        options["key_prefix"] = args.key_prefix
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    try:
        redis_config = RedisQueueConfig(**options)
    except (TypeError, ValueError) as exc:
        # no message of RedisQueueConfig quotes the URL (it may hold a password)
        msg = f"invalid option: {exc}"
        raise _SetupError(msg, EXIT_USAGE) from None
    shown = f"redis {redact_url(url)} prefix {redis_config.key_prefix!r}"
    redis: Any = RedisQueuePlugin()
    return redis, redis_config, shown


async def _probe(plugin: QueuePlugin[Any], config: Any) -> None:
    """Raise ``_SetupError`` unless the backend answers."""
    queue = plugin.create_queue(_PROBE_QUEUE, config)
    try:
        await queue.test_connection()
    except BackendUnavailableError as exc:
        raise _SetupError(str(exc), EXIT_UNREACHABLE) from None
    except Exception as exc:
        msg = f"cannot reach the {plugin.id} backend: {type(exc).__name__}"
        raise _SetupError(msg, EXIT_UNREACHABLE) from None
    finally:
        with trio.CancelScope(shield=True):
            await queue.stop()


class _Tally:
    """Counts deliveries (an instrument), to say at stop what finished and what was released."""

    def __init__(self) -> None:
        self.running = 0
        self.at_stop: int | None = None
        self.after_stop: Counter[str] = Counter()

    def delivery_started(self, queue: Any, group: str, job: QueueJob[Any]) -> None:
        self.running += 1

    def delivery_finished(
        self, queue: Any, group: str, job: QueueJob[Any], outcome: str, duration: float
    ) -> None:
        self.running -= 1
        if self.at_stop is not None:
            self.after_stop[outcome] += 1

    def stop_begins(self) -> None:
        self.at_stop = self.running


class _Signals:
    """What the signal watcher saw."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.stop = trio.Event()
        self.force = trio.Event()


def _describe(manager: QueueManager) -> tuple[str, dict[str, dict[str, int]]]:
    queues = {proxy.name: proxy.consumer_groups for proxy in manager.get_queues()}
    parts: list[str] = []
    for name, groups in queues.items():
        shown = ", ".join(f"{g} x{n}" if n > 1 else g for g, n in groups.items()) or "none"
        parts.append(f"{name} (groups: {shown})")
    return "; ".join(parts) or "none", queues


async def _watch(receiver: Any, signals: _Signals, grace: float) -> None:
    async for signum in receiver:
        name = signal.Signals(signum).name
        signals.names.append(name)
        if len(signals.names) == 1:
            logger.info(
                "%s received: stopping; running handlers have %s to finish "
                "(send it again to stop at once)",
                name,
                "as long as they need" if grace == math.inf else f"{grace:g} s",
                extra={FIELDS: {"event": "stopping", "signal": name, "grace_period": grace}},
            )
            signals.stop.set()
        elif not signals.force.is_set():
            logger.warning(
                "%s received again: stopping at once (running handlers cancelled, "
                "their deliveries released)",
                name,
                extra={FIELDS: {"event": "forcing", "signal": name}},
            )
            signals.force.set()


async def _serve(
    args: argparse.Namespace,
    setup: Callable[[QueueManager], Awaitable[None]],
    plugin: QueuePlugin[Any],
    config: Any,
    shown_backend: str,
    instruments: list[object],
    receiver: Any,
) -> int:
    grace: float = args.grace_period
    signals = _Signals()
    tally = _Tally()
    registry = QueuePluginRegistry()
    registry.register(plugin)
    prometheus: Any = None
    if args.metrics_port is not None:
        from ..metrics import PrometheusInstrument

        prometheus = PrometheusInstrument()
        instruments = [prometheus, *instruments]
    async with trio.open_nursery() as watcher:
        watcher.start_soon(_watch, receiver, signals, grace)
        if plugin.id != "memory":
            with trio.CancelScope() as probe_scope:
                watcher.start_soon(_cancel_when, signals.stop, probe_scope)
                try:
                    await _probe(plugin, config)
                except _SetupError as exc:
                    _log_error(exc)
                    watcher.cancel_scope.cancel()
                    return exc.status
            if probe_scope.cancelled_caught:
                watcher.cancel_scope.cancel()
                return EXIT_OK
        status = await _run_manager(
            args,
            setup,
            plugin,
            config,
            shown_backend,
            [tally, *instruments],
            registry,
            signals,
            tally,
            prometheus,
        )
        watcher.cancel_scope.cancel()
    return status


async def _run_manager(
    args: argparse.Namespace,
    setup: Callable[[QueueManager], Awaitable[None]],
    plugin: QueuePlugin[Any],
    config: Any,
    shown_backend: str,
    instruments: list[object],
    registry: QueuePluginRegistry,
    signals: _Signals,
    tally: _Tally,
    prometheus: Any,
) -> int:
    grace: float = args.grace_period
    status = EXIT_OK
    async with (
        open_queue_manager(
            registry, default_plugin=plugin.id, default_config=config, instruments=instruments
        ) as manager,
        trio.open_nursery() as services,
    ):
        metrics_url = None
        if prometheus is not None:
            from ..metrics import serve_metrics

            async def before_scrape() -> None:
                await prometheus.refresh(manager.get_queues())

            port = await services.start(
                partial(
                    serve_metrics,
                    prometheus.registry,
                    host=args.metrics_host,
                    port=args.metrics_port,
                    before_scrape=before_scrape,
                )
            )
            metrics_url = f"http://{args.metrics_host}:{port}/metrics"
        with trio.CancelScope() as setup_scope:
            services.start_soon(_cancel_when, signals.stop, setup_scope)
            try:
                await setup(manager)
            except Exception as exc:
                logger.error(  # one line, as the other start errors
                    "%s raised: %s: %s",
                    args.target,
                    type(exc).__name__,
                    exc,
                    extra={FIELDS: {"event": "setup_failed"}},
                )
                status = EXIT_SETUP
                signals.stop.set()
        if status == EXIT_OK and not setup_scope.cancelled_caught:
            shown_queues, queues = _describe(manager)
            concurrency = getattr(manager.get_active_config(), "concurrency", None)
            logger.info(
                "worker started (pid %d): backend %s; queues: %s; concurrency %s per queue; "
                "grace period %s%s",
                os.getpid(),
                shown_backend,
                shown_queues,
                concurrency,
                "none (wait)" if grace == math.inf else f"{grace:g} s",
                f"; metrics at {metrics_url}" if metrics_url else "",
                extra={
                    FIELDS: {
                        "event": "started",
                        "pid": os.getpid(),
                        "backend": plugin.id,
                        "queues": queues,
                        "concurrency": concurrency,
                        "grace_period": grace,
                        "metrics_url": metrics_url,
                    }
                },
            )
        await signals.stop.wait()
        tally.stop_begins()
        async with trio.open_nursery() as stopping:

            async def force() -> None:
                await signals.force.wait()
                await manager.shutdown(grace_period=0)

            stopping.start_soon(force)
            await manager.shutdown(grace_period=0 if status != EXIT_OK else grace)
            stopping.cancel_scope.cancel()
        services.cancel_scope.cancel()
    forced = signals.force.is_set()
    outcomes = dict(tally.after_stop)
    released = outcomes.get("released", 0)
    finished = sum(outcomes.values()) - released
    logger.info(
        "worker stopped%s: %d handler(s) were running at the stop; %d finished (%s), "
        "%d released (back in their queue, not counted as an attempt)",
        " at once (second signal)" if forced else "",
        tally.at_stop or 0,
        finished,
        ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()) if k != "released") or "none",
        released,
        extra={
            FIELDS: {
                "event": "stopped",
                "forced": forced,
                "running_at_stop": tally.at_stop or 0,
                "outcomes": outcomes,
            }
        },
    )
    if forced and status == EXIT_OK:
        status = EXIT_CRASHED
    return status


async def _cancel_when(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def _late_signal(signum: int, frame: FrameType | None) -> None:
    """Signals that come while the worker is exiting: it is stopping already."""


async def _main(
    args: argparse.Namespace,
    setup: Callable[[QueueManager], Awaitable[None]],
    plugin: QueuePlugin[Any],
    config: Any,
    shown_backend: str,
    instruments: list[object],
) -> int:
    watched = (signal.SIGTERM, signal.SIGINT)
    # what the receiver redelivers when its block exits (signals it did not hand out)
    # lands here, not in KeyboardInterrupt or the default SIGTERM action
    previous = {signum: signal.signal(signum, _late_signal) for signum in watched}
    try:
        with trio.open_signal_receiver(*watched) as receiver:
            return await _serve(args, setup, plugin, config, shown_backend, instruments, receiver)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace) -> int:
    """Run the worker; returns the exit status."""
    configure_logging(args.log_format, args.log_level)
    try:
        plugin, config, shown_backend = _backend(args)
        setup = _load(args.target, "MODULE:FUNCTION")
        if not inspect.iscoroutinefunction(setup):
            msg = (
                f"{args.target} must be an async function taking the QueueManager "
                f"(async def setup(manager): ...), not {type(setup).__name__}"
            )
            raise _SetupError(msg, EXIT_SETUP)
        instruments: list[object] = []
        for target in args.instrument:
            found = _load(target, "--instrument")
            if inspect.isclass(found) or (callable(found) and not _is_instrument(found)):
                found = found()
            instruments.append(found)
        if args.metrics_port is not None:
            try:
                import prometheus_client  # noqa: F401  # pyright: ignore[reportUnusedImport]
            except ImportError:
                msg = (
                    "--metrics-port needs prometheus_client: "
                    "pip install 'checkqueue_actors[metrics]'"
                )
                raise _SetupError(msg, EXIT_USAGE) from None
    except _SetupError as exc:
        _log_error(exc)
        return exc.status
    try:
        return trio.run(_main, args, setup, plugin, config, shown_backend, instruments)
    except _SetupError as exc:
        _log_error(exc)
        return exc.status
    except Exception as exc:
        logger.exception(
            "worker crashed: %s: %s",
            type(exc).__name__,
            exc,
            extra={FIELDS: {"event": "crashed"}},
        )
        return EXIT_CRASHED


def _log_error(exc: _SetupError) -> None:
    logger.error("%s", exc, extra={FIELDS: {"event": "error", "status": exc.status}})


def _is_instrument(obj: object) -> bool:
    return any(
        callable(getattr(obj, name, None))
        for name in ("prepare_headers", "job_enqueued", "delivery_started", "delivery_finished")
    )
