"""The RESP client of the scripts' hot paths: both reply readers agree byte for byte,
replies split anywhere are reassembled, and a queue runs on the pure-Python reader."""

from __future__ import annotations

import itertools
import socket
from typing import TYPE_CHECKING, Any

import trio
import trio.lowlevel
from coredis.exceptions import NoScriptError, ResponseError
from hypothesis import given
from hypothesis import strategies as st

from checkqueue_actors._backends.redis import _wire
from checkqueue_actors._backends.redis._wire import PyReader, make_reader
from checkqueue_actors.testing import DeliveryLog, RecordingHandler, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from checkqueue_actors.redis import RedisQueue

_MORE: Any = _wire._MORE  # pyright: ignore[reportPrivateUsage]

# a claim's reply: (group index, dkey, token, id, data, priority, ts, attempts) per
# delivery, then the statuses of the acks written with it
_CLAIM_REPLY = (
    b"*10\r\n:1\r\n$8\r\n1:gjob-1\r\n$9\r\nabc:12345\r\n$5\r\njob-1\r\n"
    b'$13\r\n{"a": "\\r\\n"}\r\n$1\r\n5\r\n$13\r\n1732780000000\r\n$1\r\n0\r\n:1\r\n:0\r\n'
)
_REPLIES = [
    _CLAIM_REPLY,
    b"+OK\r\n",
    b":-42\r\n",
    b"$-1\r\n",
    b"$0\r\n\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"*2\r\n*1\r\n$1\r\nx\r\n$-1\r\n",
    b"-ERR wrong number of arguments\r\n",
    b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
]


def _readers() -> list[Any]:
    readers: list[Any] = [PyReader()]
    if _wire._HIREDIS is not None:  # pyright: ignore[reportPrivateUsage]
        readers.append(make_reader())
    return readers


def _read_all(reader: Any, chunks: list[bytes]) -> list[Any]:
    """Feed ``chunks`` one by one and collect every whole reply, as ``_Connection`` does."""
    out: list[Any] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (value := reader.gets()) is not _MORE:
            out.append(value)
    return out


def _normal(values: list[Any]) -> list[Any]:
    """Errors compared by text (``_Connection._parse`` tells NOSCRIPT apart)."""
    return [("error", str(v)) if isinstance(v, ResponseError) else v for v in values]


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(b"".join(_REPLIES))), max_size=8))
def test_both_readers_reassemble_replies_split_anywhere(cuts: list[int]) -> None:
    stream = b"".join(_REPLIES)
    bounds = sorted({0, len(stream), *cuts})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    results = [_normal(_read_all(reader, chunks)) for reader in _readers()]
    assert len(results[0]) == len(_REPLIES)
    assert results[0][0] == [1, b"1:gjob-1", b"abc:12345", b"job-1", b'{"a": "\\r\\n"}', b"5",
                             b"1732780000000", b"0", 1, 0]  # fmt: skip
    for result in results[1:]:
        assert result == results[0]


def test_error_replies_are_values_not_raised_and_noscript_is_told_apart() -> None:
    for reader in _readers():
        conn = _wire._Connection(None, None)  # pyright: ignore[reportPrivateUsage]
        conn.reader = reader
        reader.feed(b"-ERR boom\r\n-NOSCRIPT gone\r\n")
        done, first = conn.parse()
        assert done
        assert type(first) is ResponseError
        assert str(first) == "ERR boom"
        done, second = conn.parse()
        assert done
        assert isinstance(second, NoScriptError)
        assert conn.parse() == (False, None)


async def test_a_queue_runs_on_the_pure_python_reader(
    make_queue: Callable[..., RedisQueue[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hiredis (an optional extra) every call goes through ``PyReader``."""
    monkeypatch.setattr(_wire, "_HIREDIS", None)
    assert isinstance(make_reader(), PyReader)
    log: DeliveryLog[Any] = DeliveryLog()
    async with make_queue(concurrency=4) as queue:
        await queue.consume(RecordingHandler(log=log), consumer_group="g")
        for i in range(50):
            await queue.enqueue({"n": i, "text": "line\r\nbreak"}, priority=i % 3)
        with trio.fail_after(10):
            await log.wait_finished(50)
            await wait_until(lambda: _all_acked(queue))
    assert sorted(job.data["n"] for job in log.jobs) == list(range(50))


async def _all_acked(queue: RedisQueue[Any]) -> bool:
    stats = await queue.get_stats()
    return stats.completed == 50 and stats.processing == 0


async def test_a_pipeline_sends_what_the_socket_takes_then_the_rest() -> None:
    """``send_nowait`` writes what the socket takes without waiting (a claim nearly
    always fits); the rest goes out with ``send_encoded``, which waits for room; the
    peer gets every byte in order. Replies read together are then answered one by one."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    pipe = _wire.Pipeline(_wire._Connection(None, ours), 5.0)  # pyright: ignore[reportPrivateUsage]
    payload = bytes(range(256)) * 40_000  # 10 MB: more than the socket buffers hold
    received = bytearray()

    async def drain() -> None:
        theirs.setblocking(False)
        while len(received) < len(payload):
            await trio.lowlevel.wait_readable(theirs)
            received.extend(theirs.recv(1 << 20))

    sent = pipe.send_nowait(payload)
    assert 0 < sent < len(payload)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        await pipe.send_encoded(payload[sent:])
    assert received == payload
    theirs.sendall(b"+OK\r\n:7\r\n")
    assert await pipe.receive() == b"OK"
    assert await pipe.receive() == 7
    await pipe.aclose()
    theirs.close()
