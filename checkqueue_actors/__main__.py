"""Command line: ``python -m checkqueue_actors demo`` and ``... dashboard``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dashboard"]:
        from .dashboard._command import main as dashboard  # its own options (needs the extra)

        return dashboard(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m checkqueue_actors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser("demo", help="a short tour of the queue on the in-memory backend")
    demo_parser.add_argument(
        "--dashboard",
        action="store_true",
        help="serve a read-only dashboard of the demo's queues (needs the dashboard extra)",
    )
    sub.add_parser("dashboard", help="serve the web dashboard of a Redis key prefix")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import main as demo  # keep `--help` fast

        return demo(["--dashboard"] if args.dashboard else [])
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
