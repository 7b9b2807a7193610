"""``dashboard``: serve the web dashboard of a Redis key prefix (the dashboard extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import argparse

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME: Final = "dashboard"
HELP: Final = "serve the web dashboard of the queues of a Redis key prefix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard's options (see ``checkqueue_actors.dashboard``)."""
    from ..dashboard._command import add_arguments as dashboard_arguments

    dashboard_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C or SIGTERM."""
    from ..dashboard._command import run as serve

    return serve(args)
