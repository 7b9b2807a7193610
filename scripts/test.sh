#!/usr/bin/env bash
# Sets up .venv (Python 3.11+) and runs every gate: ruff, pyright, mypy, pytest.
# Tests that need Redis start their own redis-server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "== ruff"
.venv/bin/ruff check checkqueue_actors tests benchmarks
.venv/bin/ruff format --check checkqueue_actors tests benchmarks
echo "== pyright"
.venv/bin/pyright
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
