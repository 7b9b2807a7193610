"""Waiting for a script's reply: a task with nothing else to let run polls its socket
for up to ``busy_poll_us`` before it sleeps in the event loop; it stops when the loop
has other I/O ready; empty polls back off; a blocking command's reply is never polled
for; a queue whose consumers run in the process does not poll; 0 turns it off."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.lowlevel
from coredis.exceptions import ConnectionError as RedisConnectionError

from checkqueue_actors._backends.redis import _wire
from checkqueue_actors._backends.redis._wire import BusyPoll

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from checkqueue_actors.redis import RedisQueue

_Connection: Any = _wire._Connection  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Our non-blocking end and the server's end of a connection."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the waits in the event loop (``trio.lowlevel.wait_readable`` calls)."""
    calls: list[int] = []
    real = trio.lowlevel.wait_readable

    async def counted(sock: Any) -> None:
        calls.append(1)
        await real(sock)

    monkeypatch.setattr(trio.lowlevel, "wait_readable", counted)
    return calls


def _later(sock: socket.socket, data: bytes, seconds: float) -> threading.Timer:
    """Write ``data`` from another thread in ``seconds`` (the event loop is busy polling)."""
    timer = threading.Timer(seconds, sock.sendall, (data,))
    timer.start()
    return timer


async def test_a_reply_that_comes_while_polling_is_read_without_a_sleep(
    pair: tuple[socket.socket, socket.socket], sleeps: list[int]
) -> None:
    ours, theirs = pair
    poll = BusyPoll(2.0)
    conn = _Connection(None, ours, poll)
    timer = _later(theirs, b"+OK\r\n", 0.02)
    started = time.perf_counter()
    assert await conn.receive() == b"OK"
    timer.join()
    assert time.perf_counter() - started < 1.5
    assert (poll.caught, poll.missed, sleeps) == (1, 0, [])


async def test_polls_that_find_nothing_back_off_doubling_up_to_256_waits(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """After k empty polls in a row the next 2**k waits do not poll (256 at most);
    a reply caught resets the count."""
    ours, theirs = pair
    poll = BusyPoll(0.0005)

    def skipped_before_next_poll() -> int:
        count = 0
        while poll.read(ours) is None and poll.missed == missed:
            count += 1
        return count

    assert poll.read(ours) is None  # an empty poll: the first miss
    assert poll.missed == 1
    skips: list[int] = []
    for _ in range(9):
        missed = poll.missed
        skips.append(skipped_before_next_poll())
    assert skips == [2, 4, 8, 16, 32, 64, 128, 256, 256]
    # bytes waiting are not read while a wait goes by unpolled
    theirs.sendall(b":1\r\n")
    assert poll.read(ours) is None
    poll._skip = 0  # pyright: ignore[reportPrivateUsage]
    assert poll.read(ours) == b":1\r\n"  # caught: the count starts again
    assert poll.read(ours) is None
    assert poll.missed == 11
    assert [poll.read(ours) for _ in range(2)] == [None, None]
    theirs.sendall(b":2\r\n")
    assert poll.read(ours) == b":2\r\n"
    assert poll.caught == 2


async def test_no_poll_while_another_task_is_ready_to_run(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    poll = BusyPoll(1.0)
    theirs.sendall(b"+OK\r\n")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.lowlevel.checkpoint)  # ready to run until this task yields
        assert poll.read(ours) is None
    assert (poll.caught, poll.missed) == (0, 0)
    assert poll.read(ours) == b"+OK\r\n"


async def test_polling_stops_when_the_loop_has_other_io_ready(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Another task waits on a socket that becomes readable: the poll ends at once,
    counted neither as a catch nor as a miss, and the other task then runs."""
    ours, _theirs = pair
    other, other_peer = socket.socketpair()
    other.setblocking(False)
    poll = BusyPoll(5.0)
    woken: list[bool] = []

    async def waiter() -> None:
        await trio.lowlevel.wait_readable(other)
        woken.append(True)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.sleep(0.01)  # the waiter sleeps in wait_readable
            other_peer.sendall(b"x")
            started = time.perf_counter()
            assert poll.read(ours) is None
            assert time.perf_counter() - started < 2.5
            assert (poll.caught, poll.missed) == (0, 0)
        assert woken == [True]
    finally:
        other.close()
        other_peer.close()


async def test_a_budget_of_zero_never_polls(
    pair: tuple[socket.socket, socket.socket], sleeps: list[int]
) -> None:
    ours, theirs = pair
    poll = BusyPoll(0.0)
    conn = _Connection(None, ours, poll)
    timer = _later(theirs, b":5\r\n", 0.01)
    assert await conn.receive() == 5
    timer.join()
    assert (poll.caught, poll.missed) == (0, 0)
    assert len(sleeps) == 1


async def test_a_connection_closed_while_polling_is_a_connection_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    conn = _Connection(None, ours, BusyPoll(2.0))
    timer = threading.Timer(0.01, theirs.shutdown, (socket.SHUT_WR,))
    timer.start()
    with pytest.raises(RedisConnectionError, match="closed the connection"):
        await conn.receive()
    timer.join()


async def test_a_blocking_commands_reply_is_not_polled_for(
    pair: tuple[socket.socket, socket.socket], sleeps: list[int]
) -> None:
    ours, theirs = pair
    poll = BusyPoll(2.0)
    pipe = _wire.Pipeline(_Connection(None, ours, poll), 5.0)
    timer = _later(theirs, b"*-1\r\n:3\r\n", 0.02)
    assert await pipe.receive(blocks_seconds=1.0) is None  # a BLPOP's reply
    timer.join()
    assert (poll.caught, poll.missed) == (0, 0)
    assert len(sleeps) == 1
    assert await pipe.receive() == 3  # read already: no wait at all
    assert len(sleeps) == 1


async def test_a_queue_whose_consumers_run_here_does_not_poll(
    make_queue: Callable[..., RedisQueue[Any]],
) -> None:
    """Once a group of the queue claims in this process, its requests sleep at once
    (the handlers get the CPU): jobs enqueued one by one while it consumes are not
    polled for, with a 10 ms budget."""
    done: list[int] = []
    all_done = trio.Event()

    async def handler(job: Any) -> None:
        done.append(job.data)
        if len(done) == 20:
            all_done.set()

    queue = make_queue(busy_poll_us=10_000)
    async with queue:
        storage: Any = queue.storage
        poll: BusyPoll = storage._scripts.poll
        await queue.enqueue(-1)  # before any consumer: polled for
        enabled = [poll.enabled]
        await queue.consume(handler, consumer_group="g")
        await trio.sleep(0.2)
        enabled.append(poll.enabled)
        assert enabled == [True, False]
        before = (poll.caught, poll.missed)
        for i in range(19):
            await queue.enqueue(i)
        with trio.fail_after(10):
            await all_done.wait()
        assert (poll.caught, poll.missed) == before
    assert sorted(done) == [-1, *range(19)]


@pytest.mark.parametrize("busy_poll_us", [0, 10_000])
async def test_a_queue_polls_for_its_replies_as_configured(
    make_queue: Callable[..., RedisQueue[Any]], busy_poll_us: int
) -> None:
    """Enqueues one by one and a consumer: with a 10 ms budget the near server's replies
    are caught by polling; with 0 none is. Every job is delivered either way."""
    done: list[int] = []
    all_done = trio.Event()

    async def handler(job: Any) -> None:
        done.append(job.data)
        if len(done) == 30:
            all_done.set()

    queue = make_queue(busy_poll_us=busy_poll_us)
    async with queue:
        for i in range(30):
            await queue.enqueue(i)
        await queue.consume(handler, consumer_group="g")
        with trio.fail_after(10):
            await all_done.wait()
        storage: Any = queue.storage
        poll: BusyPoll = storage._scripts.poll
    assert sorted(done) == list(range(30))
    if busy_poll_us:
        assert poll.caught > 0
    else:
        assert (poll.caught, poll.missed) == (0, 0)
