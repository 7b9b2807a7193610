"""Spawning ``tests.redis.agent`` processes and reading their ledgers."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._server import RedisServer

__all__ = ["Agent", "Ledger", "read_ledgers"]

_ROOT = Path(__file__).resolve().parents[2]


class Agent:
    """One agent subprocess; only its own pid is ever signalled."""

    def __init__(self, server: RedisServer, prefix: str, ledger: Path, *args: str) -> None:
        self.ledger = ledger
        self.argv = [
            sys.executable,
            "-m",
            "tests.redis.agent",
            "--url",
            server.url,
            "--prefix",
            prefix,
            "--ledger",
            str(ledger),
            *args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = b""

    def start(self) -> Agent:
        """Start the process (it writes a ``ready`` line once it consumes)."""
        env = {**os.environ, "PYTHONPATH": str(_ROOT)}
        self.proc = subprocess.Popen(
            self.argv, cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL it and reap it."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful stop), then SIGKILL if it does not end in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self._stderr = self.proc.stderr.read()
            self.proc.stderr.close()

    def stderr_text(self) -> str:
        """What it printed on stderr (after it ended)."""
        assert self.proc is not None
        assert self.proc.stderr is not None
        if self.proc.stderr.closed:  # stop() kept it
            return self._stderr.decode(errors="replace")
        return self.proc.stderr.read().decode(errors="replace")


@attrs.define
class Ledger:
    """The union of agents' ledgers."""

    starts: collections.Counter[tuple[str, str]] = attrs.field(
        factory=collections.Counter[tuple[str, str]]
    )
    dones: collections.Counter[tuple[str, str]] = attrs.field(
        factory=collections.Counter[tuple[str, str]]
    )
    cancels: collections.Counter[tuple[str, str]] = attrs.field(
        factory=collections.Counter[tuple[str, str]]
    )
    ready: int = 0
    start_pids: dict[tuple[str, str], list[int]] = attrs.field(
        factory=dict[tuple[str, str], list[int]]
    )

    def done_ids(self, group: str) -> set[str]:
        """Ids completed at least once in ``group``."""
        return {job for (job, g) in self.dones if g == group}

    def duplicated_done(self, group: str) -> int:
        """Completions beyond the first, in ``group``."""
        return sum(n - 1 for (_job, g), n in self.dones.items() if g == group and n > 1)

    def duplicated_starts(self, group: str) -> int:
        """Starts beyond the first, in ``group``."""
        return sum(n - 1 for (_job, g), n in self.starts.items() if g == group and n > 1)


def read_ledgers(paths: list[Path]) -> Ledger:
    """Parse every ledger (missing files count as empty)."""
    ledger = Ledger()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            parts = line.split(" ")
            if parts[0] == "ready":
                ledger.ready += 1
            elif parts[0] == "start" and len(parts) == 5:
                key = (parts[1], parts[2])
                ledger.starts[key] += 1
                ledger.start_pids.setdefault(key, []).append(int(parts[4]))
            elif parts[0] == "done" and len(parts) == 4:
                ledger.dones[(parts[1], parts[2])] += 1
            elif parts[0] == "cancelled" and len(parts) == 4:
                ledger.cancels[(parts[1], parts[2])] += 1
    return ledger


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (sync) until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
