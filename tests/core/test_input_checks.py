"""Argument checking: every bad argument is refused with a clear, typed error before
anything is stored, by the in-memory queue, the manager's proxy and the configs alike
(the Redis queue is checked in ``tests/redis/test_redis_input_checks.py``)."""

from __future__ import annotations

import functools
import math
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    ConfigValidationError,
    InMemoryQueue,
    InMemoryQueueConfig,
    InMemoryQueuePlugin,
    QueueJob,
    QueuePluginRegistry,
    open_queue_manager,
    parse_config,
)
from checkqueue_actors._state import policy

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

BAD_NAMES: list[tuple[object, type[Exception], str]] = [
    ("", ValueError, "non-empty"),
    ("\ud800", ValueError, "lone surrogate"),
    ("emails\ud83d", ValueError, "lone surrogate"),
    ("a\nb", ValueError, "control characters"),
    ("tab\there", ValueError, "control characters"),
    ("nul\x00", ValueError, "control characters"),
    ("c1\x85", ValueError, "control characters"),
    (7, TypeError, "non-empty str"),
    (b"bytes", TypeError, "non-empty str"),
    (None, TypeError, "non-empty str"),
]
GOOD_NAMES = ["emails", "émails 📧", "a:b/c{d}", "x" * 200, "zero\u200dwidth"]


async def _noop(job: QueueJob[Any]) -> None:
    await trio.lowlevel.checkpoint()


@asynccontextmanager
async def _queue_and_proxy(kind: str) -> AsyncGenerator[Any, None]:
    """A running in-memory queue, or the manager's proxy of one."""
    if kind == "memory":
        async with InMemoryQueue[Any]("q") as queue:
            yield queue
        return
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    async with open_queue_manager(registry) as manager:
        yield manager.get_queue("q")


KINDS = ["memory", "proxy"]


# -- priority ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_priorities_out_of_range_are_refused_everywhere_with_a_short_message(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    """10**400 (and one past each bound) is a ValueError in enqueue, enqueue_many and
    schedule_recurring; the message does not print 400 digits; nothing is stored."""
    async with _queue_and_proxy(kind) as queue:
        for bad in (10**400, -(10**400), policy.PRIORITY_MAX + 1, policy.PRIORITY_MIN - 1):
            calls: list[Callable[[], Awaitable[object]]] = [
                functools.partial(queue.enqueue, "x", priority=bad),
                functools.partial(
                    queue.schedule_recurring, "x", job_id="r", interval_seconds=60, priority=bad
                ),
            ]
            if kind == "memory":
                calls.append(functools.partial(queue.enqueue_many, ["x", "y"], priority=bad))
            for call in calls:
                with pytest.raises(ValueError, match="priority must lie in") as info:
                    await call()
                assert len(str(info.value)) < 200
                assert "0000000000" not in str(info.value)
        stats = await queue.get_stats()
        assert stats.pending == 0
        assert await queue.list_recurring_jobs() == []
        await queue.enqueue("edge", priority=policy.PRIORITY_MAX)
        await queue.enqueue("edge", priority=policy.PRIORITY_MIN)


@pytest.mark.parametrize("bad", [True, False, 1.0, 2.5, "1", None, math.nan])
async def test_a_priority_of_another_type_is_a_type_error(
    bad: object, autojump_clock: trio.testing.MockClock
) -> None:
    """A bool or a float is no priority: TypeError, which is also a ValueError (as the
    method has always promised)."""
    async with InMemoryQueue[Any]("q") as queue:
        with pytest.raises(TypeError, match="priority must be an int") as info:
            await queue.enqueue("x", priority=bad)  # type: ignore[arg-type]
        assert isinstance(info.value, ValueError)
        with pytest.raises(TypeError, match="priority must be an int"):
            await queue.enqueue_many(["x"], priority=bad)  # type: ignore[arg-type]
        assert (await queue.get_stats()).pending == 0


def test_a_huge_rejected_value_is_shown_cut() -> None:
    """Error messages show a bad value cut to a few dozen characters."""
    assert policy.shown(10**400) == "<an int of about 401 digits>"
    assert len(policy.shown("x" * 10_000)) < 70
    assert policy.shown("short") == "'short'"
    with pytest.raises(ValueError, match="job_id has 10000 characters") as info:
        policy.check_job_id("\n" * 10_000)
    assert len(str(info.value)) < 120


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "error", "match"), BAD_NAMES)
def test_bad_queue_names_are_refused_by_the_constructor(
    name: object, error: type[Exception], match: str
) -> None:
    """A lone surrogate, a control character, an empty name or a non-str is refused by
    the constructor, not when the queue starts."""
    with pytest.raises(error, match=match):
        InMemoryQueue(name)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        InMemoryQueuePlugin().create_queue(name, InMemoryQueueConfig())  # type: ignore[arg-type]


async def test_the_manager_refuses_the_same_queue_names(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """get_queue() follows the same rules as the constructors."""
    registry = QueuePluginRegistry()
    registry.register(InMemoryQueuePlugin())
    async with open_queue_manager(registry) as manager:
        for name, error, match in BAD_NAMES:
            with pytest.raises(error, match=match):
                manager.get_queue(name)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at most 200"):
            manager.get_queue("x" * 201)
        for name in GOOD_NAMES:
            manager.get_queue(name)


def test_name_lengths_are_bounded() -> None:
    """Queue and group names take 200 characters, job ids 1024, recurring ids 996 (so
    their occurrence ids are valid job ids)."""
    InMemoryQueue("x" * 200)
    with pytest.raises(ValueError, match="201 characters; at most 200"):
        InMemoryQueue("x" * 201)
    assert policy.check_job_id("j" * 1024) == "j" * 1024
    with pytest.raises(ValueError, match="at most 1024"):
        policy.check_job_id("j" * 1025)
    assert policy.RECURRING_ID_MAX == 996
    from datetime import UTC, datetime

    longest = policy.occurrence_id("r" * 996, datetime(2026, 1, 1, tzinfo=UTC))
    assert policy.check_job_id(longest) == longest
    assert len(longest) == 1024


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_ids_and_groups_are_refused_and_nothing_is_stored(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Job ids, recurring ids and group names follow the naming rules at every call."""
    async with _queue_and_proxy(kind) as queue:
        for name, error, match in BAD_NAMES:
            if name is None:
                continue  # job_id=None means a fresh uuid
            with pytest.raises(error, match=match):
                await queue.enqueue("x", job_id=name)
            with pytest.raises(error, match=match):
                await queue.schedule_recurring("x", job_id=name, interval_seconds=5)
            with pytest.raises(error, match=match):
                await queue.consume(_noop, consumer_group=name)
            with pytest.raises(error, match=match):
                await queue.cancel_recurring(name)
            with pytest.raises(error, match=match):
                await queue.get_recurring_job_details(name)
            if kind == "memory":
                with pytest.raises(error, match=match):
                    await queue.enqueue_many(["a", "b"], job_ids=["ok", name])
        with pytest.raises(ValueError, match="at most 996"):
            await queue.schedule_recurring("x", job_id="r" * 997, interval_seconds=5)
        with pytest.raises(ValueError, match="cron_pattern must be encodable"):
            await queue.schedule_recurring("x", job_id="r", cron_pattern="* * * * \ud800")
        with pytest.raises(ValueError, match="timezone must not contain control"):
            await queue.schedule_recurring(
                "x", job_id="r", cron_pattern="0 9 * * *", timezone="Europe/\nParis"
            )
        stats = await queue.get_stats()
        assert (stats.pending, stats.consumer_groups) == (0, 0)
        assert await queue.list_recurring_jobs() == []
        for name in GOOD_NAMES:
            await queue.enqueue("x", job_id=name)
            await queue.consume(_noop, consumer_group=name)


# -- bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_absurd_durations_and_retry_counts_are_refused(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Intervals under 1 ms, delays past 100 years and more than 10,000 retries are
    ValueErrors; the bounds themselves are accepted."""
    async with _queue_and_proxy(kind) as queue:
        for interval in (1e-6, 0.0009, 1e300, 10**27, policy.DELAY_MAX * 1.01):
            with pytest.raises(ValueError, match="interval_seconds must be"):
                await queue.schedule_recurring("x", job_id="r", interval_seconds=interval)
        for delay in (1e300, 10**400, policy.DELAY_MAX + 1):
            with pytest.raises(ValueError, match="start_delay must be at most") as info:
                await queue.enqueue("x", start_delay=delay)
            assert len(str(info.value)) < 200
            with pytest.raises(ValueError, match="start_delay must be at most"):
                await queue.schedule_recurring(
                    "x", job_id="r", interval_seconds=5, start_delay=delay
                )
        for retries in (10**27, 10_001, -1):
            with pytest.raises(ValueError, match=r"max_retries must lie in 0 \.\. 10000"):
                await queue.consume(_noop, consumer_group="g", max_retries=retries)
        with pytest.raises(TypeError, match="max_retries must be an int"):
            await queue.consume(_noop, consumer_group="g", max_retries=True)
        stats = await queue.get_stats()
        assert (stats.pending, stats.consumer_groups) == (0, 0)
        assert await queue.list_recurring_jobs() == []
        await queue.schedule_recurring("x", job_id="fast", interval_seconds=0.001)
        await queue.enqueue("x", start_delay=policy.DELAY_MAX)
        await queue.consume(_noop, consumer_group="g", max_retries=10_000)


def test_retry_delays_never_overflow() -> None:
    """With 10,000 retries allowed, the backoff stops growing at 100 years."""
    assert policy.retry_delay(1, 1.0) == 2.0
    assert policy.retry_delay(10, 0.5) == 512.0
    assert policy.retry_delay(10_000, 1.0) == policy.DELAY_MAX
    assert policy.retry_delay(2000, 0.01) == policy.DELAY_MAX * 0.01


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("heartbeat_interval_ms", 1),
        ("heartbeat_interval_ms", 9),
        ("heartbeat_interval_ms", 10**27),
        ("heartbeat_interval_ms", 86_400_001),
    ],
)
def test_absurd_memory_config_values_are_refused(field: str, value: object) -> None:
    """Out-of-range config values are ValueErrors, in the class and through parse_config."""
    with pytest.raises(ValueError, match=field):
        InMemoryQueueConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigValidationError, match=field):
        parse_config(InMemoryQueuePlugin(), {field: value})
    InMemoryQueueConfig(heartbeat_interval_ms=0)
    InMemoryQueueConfig(heartbeat_interval_ms=10)


# -- handlers ---------------------------------------------------------------------------------


def _plain(job: QueueJob[Any]) -> None:
    del job


async def _agen(job: QueueJob[Any]) -> AsyncIterator[None]:
    yield


class _AsyncCallable:
    async def __call__(self, job: QueueJob[Any]) -> None:
        await trio.lowlevel.checkpoint()


class _ReturnsAwaitable:
    def __call__(self, job: QueueJob[Any]) -> Awaitable[None]:
        return _noop(job)


class _Methods:
    async def handle(self, job: QueueJob[Any]) -> None:
        await trio.lowlevel.checkpoint()

    def plain(self, job: QueueJob[Any]) -> None:
        del job


def _wrapping(func: Callable[[QueueJob[Any]], Awaitable[None]]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(job: QueueJob[Any]) -> Awaitable[None]:
        return func(job)

    return wrapper


REFUSED: list[object] = [
    _plain,
    lambda job: None,  # pyright: ignore[reportUnknownLambdaType]
    print,
    functools.partial(_plain),
    _Methods().plain,
    _agen,
    "not callable",
    None,
]
ACCEPTED: list[object] = [
    _noop,
    functools.partial(_noop),
    functools.partial(functools.partial(_noop)),
    _AsyncCallable(),
    functools.partial(_AsyncCallable()),
    _ReturnsAwaitable(),
    _Methods().handle,
    _wrapping(_noop),
]


@pytest.mark.parametrize("kind", KINDS)
async def test_consume_refuses_handlers_that_are_not_async(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A plain def, a lambda, a builtin, a partial of a plain def or an async generator
    function is refused at consume() with TypeError (each delivery would fail);
    async functions, partials of them and async-callable objects are accepted."""
    async with _queue_and_proxy(kind) as queue:
        for handler in REFUSED:
            with pytest.raises(TypeError, match="handler must be an async callable"):
                await queue.consume(handler, consumer_group="g")
        assert (await queue.get_stats()).consumer_groups == 0
        for handler in ACCEPTED:
            await queue.consume(handler, consumer_group="g")
        await queue.enqueue("x")
        await trio.sleep(1)
        stats = await queue.get_stats()
        assert (stats.completed, stats.failed) == (1, 0)


def test_fresh_job_ids_are_standard_uuid4_strings() -> None:
    """new_job_id is str(uuid.uuid4()) without the UUID object: version 4, RFC 4122
    variant, the canonical lower-case form, and every bit pattern handled."""
    import uuid

    from checkqueue_actors._state.policy import new_job_id

    ids = {new_job_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    for fill in (b"\x00" * 16, b"\xff" * 16):

        def source(n: int, fill: bytes = fill) -> bytes:
            return fill[:n]

        assert new_job_id(source) == str(uuid.UUID(bytes=fill, version=4))


def test_fresh_job_ids_differ_across_threads() -> None:
    """Each thread takes its own random bytes: no id repeats between threads."""
    import threading

    from checkqueue_actors._state.policy import new_job_id

    found: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        into.extend(new_job_id() for _ in range(1000))

    threads = [threading.Thread(target=take, args=(ids,)) for ids in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in found for i in ids]
    assert len(set(every)) == len(every) == 4000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_does_not_repeat_its_parents_job_ids() -> None:
    """A child forked while the parent holds unused random bytes reads fresh ones: the
    ids it makes are not the ones the parent makes next."""
    from checkqueue_actors._state.policy import new_job_id

    new_job_id()  # the parent now holds a block with unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write 100 ids and leave at once
        try:
            os.write(write, "\n".join(new_job_id() for _ in range(100)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {new_job_id() for _ in range(100)}
    assert len(child) == 100
    assert not child & parent
