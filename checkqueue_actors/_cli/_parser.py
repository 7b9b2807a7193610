"""An argparse parser whose errors are one line, and the exit statuses of the commands."""

from __future__ import annotations

import argparse
import sys
from typing import Final, NoReturn

__all__ = [
    "EXIT_CRASHED",
    "EXIT_OK",
    "EXIT_SETUP",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "OneLineErrorParser",
]

EXIT_OK: Final = 0
"""Done, or stopped cleanly."""
EXIT_CRASHED: Final = 1
"""Stopped by an error while running, or forced to stop by a second signal."""
EXIT_USAGE: Final = 2
"""A bad argument (argparse's own status)."""
EXIT_SETUP: Final = 3
"""The ``MODULE:FUNCTION`` to run cannot be imported, is not what is expected, or failed."""
EXIT_UNREACHABLE: Final = 4
"""The backend cannot be reached."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports a bad argument in one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` and exit with status 2."""
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)
