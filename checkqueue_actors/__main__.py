"""Command line: ``python -m checkqueue_actors demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m checkqueue_actors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="a short tour of the queue on the in-memory backend")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import main as demo  # keep `--help` fast

        return demo()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
