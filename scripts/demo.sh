#!/usr/bin/env bash
# Sets up .venv (Python 3.11+) and runs the demo on the in-memory backend.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python -m checkqueue_actors demo "$@"
