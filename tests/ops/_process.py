"""Running ``python -m checkqueue_actors worker`` as a subprocess, always bounded and reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import signal
    from collections.abc import Callable

__all__ = ["ROOT", "Worker", "run_worker", "wait_for"]

ROOT = Path(__file__).resolve().parents[2]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CHECKQUEUE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_worker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the worker to its end (killed after ``timeout`` seconds)."""
    return subprocess.run(
        [sys.executable, "-m", "checkqueue_actors", "worker", *args],
        cwd=ROOT,
        env=_env(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 50 ms until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Worker:
    """One worker subprocess; its stderr goes to a file; only its own pid is signalled."""

    def __init__(self, directory: Path, name: str, *args: str, env: dict[str, str]) -> None:
        self.stderr_path = directory / f"{name}.stderr"
        self.argv = [sys.executable, "-m", "checkqueue_actors", "worker", *args]
        self.env = _env(env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        """Start the process."""
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )
        return self

    @property
    def stderr(self) -> str:
        """What it logged so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> bool:
        """Wait until ``text`` appears in its log (False: it did not in time, or it exited)."""
        return wait_for(lambda: text in self.stderr or not self.alive(), timeout) and (
            text in self.stderr
        )

    def alive(self) -> bool:
        """True while it runs."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to this process."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Its exit status, or None if it still runs after ``timeout`` seconds."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL it if it still runs, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
