"""The Redis backend's input checks: the same argument rules as the in-memory queue
(refused before anything is written), payloads it cannot encode, config bounds, URLs
whose errors never show the password, stored jobs it cannot read, and the start-up
warning about the server's settings (once per server)."""

from __future__ import annotations

import functools
import logging
import math
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
from hypothesis import example, given
from hypothesis import strategies as st

from checkqueue_actors import (
    ConfigValidationError,
    InMemoryQueue,
    QueueJob,
    SerializationError,
    parse_config,
)
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig, RedisQueuePlugin
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

from ._server import RedisServer, find_redis_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

BAD_NAMES: list[tuple[str, str]] = [
    ("\ud800", "lone surrogate"),
    ("a\nb", "control characters"),
    ("x" * 1025, "at most"),
    ("", "non-empty"),
]


async def _noop(job: QueueJob[Any]) -> None:
    await trio.lowlevel.checkpoint()


# -- the same rules as every backend ------------------------------------------------------------


@pytest.mark.parametrize(("name", "match"), [(n, m) for n, m in BAD_NAMES if len(n) < 300])
def test_the_constructor_refuses_the_names_the_memory_queue_refuses(
    name: str, match: str, redis_config: RedisQueueConfig
) -> None:
    """A lone surrogate or a control character in a queue name is a ValueError of the
    constructor (not an ExceptionGroup at start), as for InMemoryQueue."""
    with pytest.raises(ValueError, match=match):
        RedisQueue(name, redis_config)
    with pytest.raises(ValueError, match=match):
        InMemoryQueue(name)
    with pytest.raises(ValueError, match=match):
        RedisQueuePlugin().create_queue(name, redis_config)


async def test_bad_ids_groups_priorities_and_payloads_write_nothing(
    make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """Surrogates and control characters in ids and groups are ValueErrors, a lone
    surrogate in a payload a SerializationError (never a UnicodeEncodeError), absurd
    numbers ValueErrors; none of these calls writes a key."""
    async with make_queue() as queue:
        await queue.consume(_noop, consumer_group="g")
        before = sorted(redis_server.command("KEYS", "*"))
        for name, match in BAD_NAMES:
            with pytest.raises(ValueError, match=match):
                await queue.enqueue("x", job_id=name)
            with pytest.raises(ValueError, match=match):
                await queue.enqueue_many(["x", "y"], job_ids=["fine", name])
            with pytest.raises(ValueError, match=match):
                await queue.consume(_noop, consumer_group=name)
            with pytest.raises(ValueError, match=match):
                await queue.schedule_recurring("x", job_id=name, interval_seconds=5)
            with pytest.raises(ValueError, match=match):
                await queue.cancel_recurring(name)
            with pytest.raises(ValueError, match=match):
                await queue.retry_failed_job(name, "g")
            with pytest.raises(ValueError, match=match):
                await queue.retry_failed_job("j", name)
            with pytest.raises(ValueError, match=match):
                await queue.drop_failed_jobs([("j", name)])
        for payload in ("\ud800", {"k": "a\udfffb"}, {"\ud800": 1}, ["ok", "\udc80"]):
            with pytest.raises(SerializationError, match="lone surrogate"):
                await queue.enqueue(payload)
            with pytest.raises(SerializationError, match="lone surrogate"):
                await queue.enqueue_many(["fine", payload])
            with pytest.raises(SerializationError, match="lone surrogate"):
                await queue.schedule_recurring(payload, job_id="r", interval_seconds=5)
        for priority in (10**400, -(10**400), 2**31):
            with pytest.raises(ValueError, match="priority must lie in") as info:
                await queue.enqueue("x", priority=priority)
            assert len(str(info.value)) < 200
            with pytest.raises(ValueError, match="priority must lie in"):
                await queue.enqueue_many(["x"], priority=priority)
            with pytest.raises(ValueError, match="priority must lie in"):
                await queue.schedule_recurring(
                    "x", job_id="r", interval_seconds=5, priority=priority
                )
        with pytest.raises(TypeError, match="priority must be an int"):
            await queue.enqueue("x", priority=1.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="interval_seconds must be at least"):
            await queue.schedule_recurring("x", job_id="r", interval_seconds=1e-6)
        with pytest.raises(ValueError, match="start_delay must be at most"):
            await queue.enqueue("x", start_delay=1e300)
        with pytest.raises(ValueError, match="max_retries must lie in"):
            await queue.consume(_noop, consumer_group="g2", max_retries=10**27)
        with pytest.raises(TypeError, match="handler must be an async callable"):
            await queue.consume(print, consumer_group="g2")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="limit must be an int"):
            await queue.get_failed_jobs(1.5)  # type: ignore[arg-type]
        assert sorted(redis_server.command("KEYS", "*")) == before
        stats = await queue.get_stats()
        assert (stats.pending, stats.consumer_groups) == (0, 1)


# -- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease_seconds", 1e-9),
        ("lease_seconds", 10**27),
        ("connect_timeout", 1e-9),
        ("connect_timeout", 1e9),
        ("stream_timeout", 0.0001),
        ("stream_timeout", 86_400.0),
        ("poll_interval_ms", 10**27),
        ("busy_poll_us", -1),
        ("busy_poll_us", 10_001),
        ("max_stalls", 10**27),
        ("failed_jobs_max", 10**27),
        ("max_payload_bytes", 10**27),
        ("max_queue_size", 10**27),
        ("group_abandon_seconds", 1e-9),
        ("group_abandon_seconds", 1e300),
        ("key_prefix", "pre\ud800fix"),
        ("key_prefix", "pre\nfix"),
        ("key_prefix", "p" * 201),
    ],
)
def test_absurd_config_values_are_refused(field: str, value: object) -> None:
    """Timeouts, leases, polling, sizes and prefixes out of their documented bounds are
    ValueErrors, in the class and through parse_config."""
    with pytest.raises(ValueError, match=field):
        RedisQueueConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigValidationError, match=field):
        parse_config(RedisQueuePlugin(), {field: value})


def test_config_bounds_themselves_are_accepted() -> None:
    """The documented bounds are inclusive; inf still means groups are never abandoned."""
    RedisQueueConfig(
        lease_seconds=0.1,
        connect_timeout=0.01,
        stream_timeout=3600,
        poll_interval_ms=86_400_000,
        busy_poll_us=10_000,
        max_stalls=10_000,
        group_abandon_seconds=math.inf,
        key_prefix="émoji📧:x",
    )
    RedisQueueConfig(lease_seconds=86_400, group_abandon_seconds=0.1, busy_poll_us=0)


# -- URLs never show the password ---------------------------------------------------------------

MARKER = "Sekr1tMarkerPw"


def _no_marker(exc: BaseException) -> None:
    """Neither the error nor anything chained to it shows the marker."""
    seen: BaseException | None = exc
    while seen is not None:
        assert MARKER not in str(seen)
        assert MARKER not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def _check_url(url: str) -> None:
    error: ValueError | None = None
    config: RedisQueueConfig | None = None
    try:
        config = RedisQueueConfig(url=url)
    except ValueError as exc:
        error = exc
    if config is None:
        assert error is not None
        _no_marker(error)
        assert str(error).startswith("invalid Redis URL")
    else:
        assert MARKER not in repr(config)
        assert MARKER not in str(config)
        assert MARKER not in repr(RedisQueue[Any]("q", config))
    parsed: ConfigValidationError | None = None
    try:
        parse_config(RedisQueuePlugin(), {"url": url})
    except ConfigValidationError as exc:
        parsed = exc
    if parsed is not None:
        _no_marker(parsed)
        assert all(MARKER not in line for line in parsed.errors)


_SCHEMES = st.sampled_from(
    ["redis://", "rediss://", "//", "rediss//", "redis:/", "redis:", "REDIS://", "http://", ""]
)
_PASSWORDS = st.tuples(
    st.sampled_from(["", "a/", "1/", "x?", "#", "@", "[", "]", ":", " ", "%zz", "%2F"]),
    st.sampled_from(["", "/0", "?x", "#y", "@", ":", "[", "]", ":99999", "%"]),
).map(lambda parts: parts[0] + MARKER + parts[1])
_HOSTS = st.sampled_from(
    ["host", "127.0.0.1", "[::1]", "[::1", "::1]", "[zz]", "", "ho st", "h\x00", "[::1]x"]
)
_PORTS = st.sampled_from(["", ":6379", ":99999", ":-1", ":abc", ":", ":6379:1", ":" + MARKER])
_PATHS = st.sampled_from(["", "/", "/0", "/15", "/abc", "/0/1", "/" + MARKER, "/99999999999"])
_TAILS = st.sampled_from(["", "?ssl=true", "#frag", "?" + MARKER])


@given(
    scheme=_SCHEMES,
    user=st.sampled_from(["app", "", "a:b", "a@b"]),
    password=_PASSWORDS,
    host=_HOSTS,
    port=_PORTS,
    path=_PATHS,
    tail=_TAILS,
    noise=st.text(max_size=4),
)
@example(scheme="//", user="app", password=MARKER, host="host", port="", path="", tail="", noise="")
@example(
    scheme="rediss//", user="app", password=MARKER, host="h", port="", path="", tail="", noise=""
)
@example(
    scheme="redis://",
    user="app",
    password=MARKER,
    host="h",
    port=":99999",
    path="",
    tail="",
    noise="",
)
@example(
    scheme="redis://", user="app", password=MARKER, host="[::1", port="", path="", tail="", noise=""
)
@example(
    scheme="redis://",
    user="",
    password="1/" + MARKER,
    host="h",
    port="",
    path="",
    tail="",
    noise="",
)
def test_no_url_error_or_repr_shows_the_password(
    scheme: str, user: str, password: str, host: str, port: str, path: str, tail: str, noise: str
) -> None:
    """Malformed URLs (no scheme, a missing '://', a port out of range, an unclosed
    IPv6 bracket, reserved characters in the password...) raise a ValueError whose
    message, repr and chained errors never contain the password; valid ones never show
    it in repr either."""
    url = f"{scheme}{user}:{password}@{host}{port}{path}{tail}{noise}"
    _check_url(url)
    _check_url(f"{scheme}{noise}{user}:{password}@{host}{port}{path}")


@given(st.text(max_size=30))
def test_any_text_around_the_password_keeps_it_hidden(junk: str) -> None:
    """Arbitrary text before and after a password never brings it into an error."""
    _check_url(f"{junk}:{MARKER}@{junk}")
    _check_url(f"redis://{junk}:{MARKER}@{junk}")


def test_a_non_str_password_is_not_echoed() -> None:
    """A password of the wrong type is a TypeError naming the type, not the value."""
    with pytest.raises(TypeError, match="password must be a str or None, not bytes") as info:
        RedisQueueConfig(password=MARKER.encode())  # type: ignore[arg-type]
    _no_marker(info.value)
    with pytest.raises(ConfigValidationError) as parsed:
        parse_config(RedisQueuePlugin(), {"password": [MARKER]})
    _no_marker(parsed.value)


# -- stored jobs the queue cannot read ------------------------------------------------------------


_CORRUPTIONS: dict[str, tuple[str, str | bytes]] = {
    "huge-priority": ("p", "1" + "0" * 400),
    "inf-priority": ("p", "1e400"),
    "word-priority": ("p", "high"),
    "word-timestamp": ("ts", "yesterday"),
    "bad-data": ("d", b"\x80not json"),
}


@pytest.mark.parametrize("kind", list(_CORRUPTIONS))
async def test_a_stored_job_that_cannot_be_read_fails_alone(
    kind: str, make_queue: Callable[..., RedisQueue[Any]], redis_server: RedisServer
) -> None:
    """A job written behind the queue's back with an absurd or non-numeric priority, a
    non-numeric timestamp or undecodable data goes to the failed record with a reason;
    the innocent jobs around it complete."""
    field, value = _CORRUPTIONS[kind]
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue() as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g", max_retries=1)
        innocent = [f"ok-{i}" for i in range(6)]
        # delayed (0.5 s) so that all of them become ready at once, after the damage
        for i, job_id in enumerate([*innocent[:3], kind, *innocent[3:]]):
            await queue.enqueue({"n": i}, job_id=job_id, start_delay=50)
        await trio.to_thread.run_sync(
            redis_server.command, "HSET", f"{queue.key_base}j:{kind}", field, value
        )
        with trio.fail_after(10):
            await log.wait_finished(len(innocent))
            await wait_until(functools.partial(_failed_at_least, queue, 1))
        failed = await queue.get_failed_jobs()
        stats = await queue.get_stats()
    assert sorted(log.ids) == sorted(innocent)
    assert [f.id for f in failed] == [kind]
    assert failed[0].error
    assert (stats.completed, stats.failed) == (len(innocent), 1)


async def _failed_at_least(queue: RedisQueue[Any], count: int) -> bool:
    return (await queue.get_stats()).failed >= count


# -- the start-up check of the server's settings --------------------------------------------------


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Another throwaway server (no persistence)."""
    if find_redis_server() is None:
        pytest.skip("no redis-server binary found")
    server = RedisServer(tmp_path / "second").start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_server_without_appendonly_is_warned_about_once_per_process(
    redis_config: RedisQueueConfig,
    second_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Several queues (and restarts of them) on one server without AOF log one WARNING
    on the package's logger, saying what is at risk and how to turn AOF on; another
    server gets its own."""
    caplog.set_level(logging.DEBUG, logger="checkqueue_actors")
    other = attrs.evolve(redis_config, url=second_server.url)
    for config in (redis_config, redis_config, other, other):
        for name in ("a", "b"):
            config = attrs.evolve(config, key_prefix=f"k{uuid.uuid4().hex[:6]}")
            log: DeliveryLog[Any] = DeliveryLog()
            async with RedisQueue[Any](name, config) as queue:
                await queue.consume(RecordingHandler(log=log), consumer_group="g")
                # a delayed job runs once the scheduler's first pass (which checks the
                # server before it promotes anything) is over
                await queue.enqueue("x", start_delay=1)
                with trio.fail_after(10):
                    await log.wait_finished(1)
    warnings = [r for r in caplog.records if "appendonly" in r.getMessage()]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert {r.levelno for r in warnings} == {logging.WARNING}
    assert {r.name for r in warnings} == {"checkqueue_actors.redis"}
    first, second = (r.getMessage() for r in warnings)
    assert redis_config.url.removesuffix("/0") in first
    assert second_server.url.removesuffix("/0") in second
    for message in (first, second):
        assert "lost if the server restarts or crashes" in message
        assert "CONFIG SET appendonly yes" in message
