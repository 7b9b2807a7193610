"""``demo``: a short tour of the queue on the in-memory backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "demo"
HELP = "a short tour of the queue on the in-memory backend"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo takes no argument."""


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from .._demo import main as demo  # keep `--help` fast

    return demo()
