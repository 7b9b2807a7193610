"""``python -m checkqueue_actors dashboard``: serve the dashboard of a Redis key prefix.

Served by hypercorn's trio worker; binds 127.0.0.1 unless told otherwise (and says
so in one log line when told to bind elsewhere without a token). The URL and the
token may come from the environment (``CHECKQUEUE_URL``, ``CHECKQUEUE_TOKEN``),
which keeps the token out of the process list.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["add_arguments", "main", "run", "serve"]

logger = logging.getLogger("checkqueue_actors.dashboard")

EXIT_USAGE = 2
"""A bad argument or a missing extra."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checkqueue_actors dashboard",
        description="Serve the web dashboard of the queues of a Redis key prefix.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard command's options."""
    parser.add_argument(
        "--url",
        default=os.environ.get("CHECKQUEUE_URL"),
        help="redis:// or rediss:// URL (default: $CHECKQUEUE_URL)",
    )
    parser.add_argument("--key-prefix", default="cq", help="key prefix of the queues (cq)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (8765)")
    parser.add_argument(
        "--token",
        default=os.environ.get("CHECKQUEUE_TOKEN"),
        help="the secret actions need (default: $CHECKQUEUE_TOKEN; none: no actions)",
    )
    parser.add_argument("--read-only", action="store_true", help="refuse every action")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def serve(
    app: Any,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    shutdown: trio.Event | None = None,
) -> None:
    """Serve ``app`` with hypercorn's trio worker until ``shutdown`` is set (or until
    cancelled); ``task_status`` receives the bound URLs."""
    from hypercorn import trio as hypercorn_trio
    from hypercorn.config import Config

    run: Any = getattr(hypercorn_trio, "serve")  # noqa: B009  # its type names unknown parts

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None  # no request lines: nothing there to leak, nothing to flood
    config.graceful_timeout = 2.0
    stop = shutdown if shutdown is not None else trio.Event()
    await run(app, config, shutdown_trigger=stop.wait, task_status=task_status)


async def _run(app: Any, host: str, port: int, where: str) -> None:
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            urls: list[str] = await nursery.start(
                partial(serve, shutdown=shutdown), app, host, port
            )
            for url in urls:
                print(f"dashboard of {where}: {url}/", flush=True)
            async for _ in signals:
                shutdown.set()
                break


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 after Ctrl+C or SIGTERM, 2 for a bad
    argument or a missing extra)."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the command with parsed arguments (see ``main``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        import hypercorn  # noqa: F401  # pyright: ignore[reportUnusedImport]

        from .._backends.redis._endpoint import redact_url
        from ..redis import RedisQueueConfig
        from . import RedisSource, create_app
    except ImportError as exc:
        print(
            f"the dashboard needs its extra: pip install 'checkqueue_actors[dashboard]' "
            f"({exc.name} is missing)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.url:
        print("give --url or set CHECKQUEUE_URL (redis:// or rediss://)", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        print(f"--port must lie in 0 .. 65535, not {args.port}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = RedisQueueConfig(url=args.url, key_prefix=args.key_prefix)
        app = create_app(
            RedisSource(config=config), token=args.token or None, read_only=args.read_only
        )
    except (TypeError, ValueError) as exc:
        print(f"bad argument: {exc}", file=sys.stderr)  # never holds the password
        return EXIT_USAGE
    if not _is_loopback(args.host) and not args.token:
        logger.warning(
            "dashboard: binding %s without a token: anyone who reaches it sees every "
            "queue's jobs (actions stay refused)",
            args.host,
        )
    where = f"{redact_url(config.url)} key prefix {args.key_prefix!r}"
    try:
        trio.run(_run, app, args.host, args.port, where)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
