"""The command line: ``checkqueue`` (or ``python -m checkqueue_actors``) and its subcommands.

Each subcommand is a module with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status), listed in ``COMMANDS``; a new one is one more
module and one more entry. Errors in the arguments print one line and exit with
``EXIT_USAGE``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import demo, worker
from ._parser import OneLineErrorParser

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["COMMANDS", "console_main", "main"]

COMMANDS: tuple[ModuleType, ...] = (demo, worker)
"""The subcommand modules, in the order ``--help`` lists them."""


def build_parser(prog: str) -> OneLineErrorParser:
    """The parser of every subcommand."""
    parser = OneLineErrorParser(
        prog=prog, description="checkqueue_actors: a job queue for trio applications"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command_parser = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(command_parser)
        command_parser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "python -m checkqueue_actors") -> int:
    """Parse the command line and run the chosen command; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    status: int = args.run(args)
    return status


def console_main() -> None:
    """The ``checkqueue`` console script."""
    sys.exit(main(prog="checkqueue"))
