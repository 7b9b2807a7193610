"""BullMQ on Node (the reference the Redis backend is measured against).

Needs ``node`` and ``npm``: bullmq is installed with npm at run time into
``benchmarks/results/node`` (git-ignored), never committed. Skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks._common import Unsupported

_HERE = Path(__file__).resolve().parent
NODE_DIR = _HERE.parent / "results" / "node"


def ensure_installed() -> Path:
    """Install bullmq into NODE_DIR once; return the driver script's path there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        msg = "node and npm not found"
        raise Unsupported(msg)
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "bullmq").is_dir():
        package = NODE_DIR / "package.json"
        if not package.exists():
            package.write_text('{"name": "cq-bench-node", "private": true}\n')
        proc = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "bullmq@5"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            msg = f"npm install bullmq failed: {proc.stderr.strip()[-200:]}"
            raise Unsupported(msg)
    script = NODE_DIR / "bullmq_driver.cjs"
    shutil.copyfile(_HERE / "bullmq_driver.cjs", script)
    return script


def run(workload: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one workload in node (see ``benchmarks.peers``)."""
    script = ensure_installed()
    proc = subprocess.run(
        ["node", str(script), workload, json.dumps(params)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
        if line.startswith("SKIP "):
            raise Unsupported(line[5:])
    msg = f"node driver failed: {proc.stderr.strip()[-300:]}"
    raise RuntimeError(msg)
