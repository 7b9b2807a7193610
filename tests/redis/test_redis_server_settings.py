"""The Redis backend against servers set up like production ones: TLS (our own
hostname-checking context), ACL users, and the start-up checks of the server's
settings."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio

from checkqueue_actors import BackendUnavailableError
from checkqueue_actors.redis import RedisConfigStore, RedisQueue, RedisQueueConfig
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

from ._server import RedisServer, TlsFiles, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import trustme


def _fast(url: str, **overrides: Any) -> RedisQueueConfig:
    base: dict[str, Any] = {
        "url": url,
        "key_prefix": f"s{uuid.uuid4().hex[:8]}",
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


# -- TLS ----------------------------------------------------------------------------------------


def _issue(ca: trustme.CA, directory: Path, *hosts: str) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert = ca.issue_cert(*hosts)
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.cert_chain_pems[0].write_to_path(str(files.cert))
    cert.private_key_pem.write_to_path(str(files.key))
    return files


def _tls_server(directory: Path, files: TlsFiles) -> RedisServer:
    server = RedisServer(directory, binary=_binary(), tls=files)
    try:
        return server.start()
    except RuntimeError as exc:
        if "Bad directive" in str(exc):  # built without TLS: tls-* options are unknown
            pytest.skip("this redis-server was built without TLS support")
        raise


@pytest.fixture
def tls_servers(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer, str]]:
    """Two TLS-only servers: one whose certificate names 127.0.0.1, one whose
    certificate names another host; and the path of the CA that issued both."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    right = _issue(ca, tmp_path / "right", "127.0.0.1")
    wrong = _issue(ca, tmp_path / "wrong", "otherhost.example")
    servers = [_tls_server(tmp_path / "s1", right)]
    try:
        servers.append(_tls_server(tmp_path / "s2", wrong))
        yield servers[0], servers[1], str(right.ca)
    finally:
        for server in servers:
            server.stop()


async def _refused(config: RedisQueueConfig) -> str:
    """The error chain's messages of a refused connection (coredis wraps the TLS error)."""
    with pytest.raises(BackendUnavailableError) as info:
        await RedisQueue[Any]("q", config).test_connection()
    return "\n".join(_chain(info.value))


def _chain(exc: BaseException) -> Iterator[str]:
    yield f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        for inner in group.exceptions:
            yield from _chain(inner)
    linked = exc.__cause__ or exc.__context__
    if linked is not None:
        yield from _chain(linked)


async def test_tls_checks_the_chain_and_the_host_name(
    tls_servers: tuple[RedisServer, RedisServer, str], tmp_path: Path
) -> None:
    """rediss:// with the right CA connects and runs jobs; a certificate naming another
    host, a CA that did not issue it, the system CAs alone, and plaintext are refused."""
    right, wrong_host, ca_file = tls_servers
    assert right.url.startswith("rediss://127.0.0.1:")
    config = _fast(right.url, ssl_ca_certs=ca_file)
    log: DeliveryLog[Any] = DeliveryLog()
    async with RedisQueue[Any]("q", config) as queue:
        await queue.test_connection()
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        await queue.enqueue({"over": "tls"})
        with trio.fail_after(10):
            await log.wait_finished(1)
    assert log.data == [{"over": "tls"}]

    # coredis's own rediss:// handling would accept this one (no hostname check)
    mismatch = await _refused(_fast(wrong_host.url, ssl_ca_certs=ca_file))
    assert "SSLCertVerificationError" in mismatch
    assert "IP address mismatch" in mismatch

    trustme = pytest.importorskip("trustme")
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    unknown_ca = await _refused(_fast(right.url, ssl_ca_certs=str(other_ca)))
    assert "CERTIFICATE_VERIFY_FAILED" in unknown_ca
    system_only = await _refused(_fast(right.url))
    assert "CERTIFICATE_VERIFY_FAILED" in system_only
    plaintext = await _refused(_fast(right.url.replace("rediss://", "redis://")))
    assert "SSLCertVerificationError" not in plaintext


# -- ACL ----------------------------------------------------------------------------------------

_PASSWORD = "Pa$$-w0rd:with@odd/chars"
_QUOTED = "Pa%24%24-w0rd%3Awith%40odd%2Fchars"


# the user docs/redis.md documents, with or without its last rule ("+info")
_ACL_RULES = (
    "on", f">{_PASSWORD}", "~app:*", "resetchannels", "+@read", "+@write", "+@scripting",
    "+@connection", "+@list", "+@sortedset", "+@hash", "-@dangerous", "+time", "+info",
)  # fmt: skip


@pytest.fixture(params=[True, False], ids=["documented", "without-info"])
def acl_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A server whose ``app`` user may touch ``app:*`` keys only, with the rules
    docs/redis.md documents, or all of them but ``+info``."""
    server = RedisServer(tmp_path / "acl", binary=_binary()).start()
    try:
        rules = _ACL_RULES if request.param else _ACL_RULES[:-1]
        server.command("ACL", "SETUSER", "app", *rules)
        server.command("SET", "outside", "untouched")
        yield server
    finally:
        server.stop()


async def test_an_acl_user_runs_the_whole_lifecycle_inside_its_prefix(
    acl_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """redis://app:<password>@host/0 connects; enqueue, delay, retry, recurring ticks,
    stats and the config store work with keys under the prefix only; without +info
    the start-up check degrades to one "could not verify" warning (NOPERM)."""
    caplog.set_level(logging.INFO, logger="checkqueue_actors.redis")
    url = f"redis://app:{_QUOTED}@127.0.0.1:{acl_server.port}/0"
    config = _fast(url, key_prefix="app")
    log: DeliveryLog[Any] = DeliveryLog()
    async with RedisQueue[Any]("jobs", config) as queue:
        await queue.test_connection()
        await queue.consume(RecordingHandler(log=log, fail_times=1), consumer_group="g")
        await queue.enqueue("now", job_id="now")
        await queue.enqueue("later", job_id="later", start_delay=10)
        await queue.schedule_recurring("tick", job_id="tick", interval_seconds=20)
        with trio.fail_after(15):
            await log.wait_until(lambda: any(i.startswith("tick:") for i in log.ids))
            await queue.cancel_recurring("tick")
            await wait_until(lambda: _settled(queue))
        stats = await queue.get_stats()
    assert {"now", "later"} <= {d.job.id for d in log.deliveries if not d.failed}
    assert stats.failed == 0
    assert stats.completed >= 3
    store = RedisConfigStore(config)
    await store.set("mgr", 1, {"k": "v"})
    assert await store.get("mgr") == (1, {"k": "v"})
    keys = {k.decode() for k in acl_server.command("KEYS", "*")}
    assert keys - {"outside"}
    assert all(k.startswith("app:") for k in keys - {"outside"})
    assert acl_server.command("GET", "outside") == b"untouched"
    notes = [r.getMessage() for r in caplog.records if "could not verify" in r.getMessage()]
    if "+info" in acl_server.command("ACL", "GETUSER", "app")[5].decode().split():
        assert notes == []
        assert any("without appendonly" in r.getMessage() for r in caplog.records)
    else:
        assert len(notes) == 1
        assert "can't run this command" in notes[0]  # NOPERM, as Redis words it in a script
    assert _PASSWORD not in caplog.text


async def _settled(queue: RedisQueue[Any]) -> bool:
    stats = await queue.get_stats()
    return (stats.pending, stats.processing) == (0, 0) and stats.completed >= 3


async def test_a_wrong_acl_password_is_refused_without_revealing_it(
    acl_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password raises BackendUnavailableError (cause: the WRONGPASS reply) whose message,
    repr and address never contain the password, from calls and from a running queue."""
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-but-secret!"
    url = f"redis://app:{wrong}@127.0.0.1:{acl_server.port}/0"
    config = _fast(url, key_prefix="app")
    queue = RedisQueue[Any]("jobs", config)
    with pytest.raises(BackendUnavailableError) as info:
        await queue.test_connection()
    error = info.value
    assert "invalid username-password pair" in str(error.cause)  # the WRONGPASS reply
    assert error.address == f"redis://app@127.0.0.1:{acl_server.port}/0"
    async with queue:
        with pytest.raises(BackendUnavailableError) as during:
            await queue.enqueue("x")
    for text in (str(error), repr(error), str(during.value), repr(during.value), caplog.text):
        assert wrong not in text
        assert _PASSWORD not in text
    assert wrong not in repr(config)
    # the right password through the explicit fields (overriding the URL's)
    right = _fast(url, key_prefix="app", password=_PASSWORD)
    await RedisQueue[Any]("jobs", right).test_connection()


# -- start-up checks of the server's settings ---------------------------------------------------


async def test_an_evicting_maxmemory_policy_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """maxmemory-policy other than noeviction (Redis may delete queue keys) logs one
    warning at start; noeviction logs none."""
    caplog.set_level(logging.WARNING, logger="checkqueue_actors.redis")
    evicting = RedisServer(
        tmp_path / "lru", binary=_binary(), extra=["--maxmemory-policy", "allkeys-lru"]
    ).start()
    safe = RedisServer(tmp_path / "safe", binary=_binary()).start()
    try:
        for port, url in ((evicting.port, evicting.url), (safe.port, safe.url)):
            async with RedisQueue[Any]("q", _fast(url)) as queue:
                await queue.enqueue("x")
                with trio.fail_after(10):
                    await wait_until(functools.partial(_warned, caplog, "appendonly", port))
    finally:
        evicting.stop()
        safe.stop()
    policy = [r.getMessage() for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(policy) == 1
    assert "allkeys-lru" in policy[0]
    assert f":{evicting.port}/" in policy[0]


def _warned(caplog: pytest.LogCaptureFixture, word: str, port: int) -> bool:
    # both servers run without AOF; its warning and the policy one are logged by the
    # same check with no checkpoint in between, so once it shows the check is done
    return any(word in r.getMessage() and f":{port}/" in r.getMessage() for r in caplog.records)
