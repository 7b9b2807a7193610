"""A small RESP2 client on trio streams, for the scripts on the hot paths.

coredis 6.9 routes every command through a connection pool guarded by an anyio
lock and a timeout scope, then through memory streams to a writer task and
back from a reader task: about 0.3 ms of Python per call, more than the script
itself costs the server. ``ScriptConnection`` writes a request and reads its
reply in the calling task, one request at a time per connection, so a call
costs one ``send`` and (usually) one ``recv``.

It only runs ``EVALSHA``/``EVAL`` (see ``_scripts.Script``) on a single server;
every other command, the blocking pops and Redis Cluster stay with coredis.
The same timeouts, credentials and TLS context as coredis' clients apply.
Failures raise coredis' exception classes (or ``OSError``/``TimeoutError``),
so the backend's error handling treats both clients alike.
"""

from __future__ import annotations

import importlib
import select
import socket
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import trio
from coredis.exceptions import (
    AuthenticationError,
    ConnectionError,  # coredis' own, a RedisError
    NoScriptError,
    ResponseError,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Sequence

    from ._endpoint import Endpoint

__all__ = [
    "Batcher",
    "BusyPoll",
    "Pipeline",
    "PyReader",
    "ScriptClient",
    "encode_command",
    "make_reader",
    "parse_reply",
]

_CRLF: Final = b"\r\n"
_READ: Final = 65_536
_IDLE_MAX: Final = 64


class Incomplete(Exception):
    """The buffer does not hold a whole reply yet."""


def _arg(value: str | float | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int):
        return str(value).encode()
    return repr(value).encode()


def encode_command(parts: Sequence[str | float | bytes]) -> bytes:
    """One RESP request (an array of bulk strings); hiredis' ``pack_command`` (in C,
    about 3 times faster) when it is installed and takes the parts."""
    if _PACK is not None:
        try:
            packed: bytes = _PACK(tuple(parts))
        except TypeError:  # a part it does not take (a bool): the Python encoder
            pass
        else:
            return packed
    return _encode_command(parts)


def _encode_command(parts: Sequence[str | float | bytes]) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    append = out.append
    for part in parts:
        data = part.encode() if type(part) is str else _arg(part)
        append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse_reply(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """Parse one RESP2 reply at ``pos``: ``(value, end)``.

    Error replies are returned as ``ResponseError`` instances (not raised), so
    that a caller can tell them from a broken connection. Bulk strings are
    ``bytes``, integers ``int``, nil ``None``.

    Raises:
      Incomplete: the reply is not wholly in ``buf`` yet.
      ConnectionError: the bytes are not RESP.
    """
    end = buf.find(_CRLF, pos)
    if end < 0:
        raise Incomplete
    kind = buf[pos]
    if kind == 0x24:  # $ bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        start = end + 2
        if len(buf) < start + size + 2:
            raise Incomplete
        return bytes(buf[start : start + size]), start + size + 2
    if kind == 0x3A:  # : integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 0x2A:  # * array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        append = items.append
        at = end + 2
        find = buf.find
        for _ in range(count):
            # bulk strings and integers inline (a claim's reply is dozens of them)
            kind = buf[at] if at < len(buf) else -1
            if kind == 0x24:
                end = find(_CRLF, at)
                if end < 0:
                    raise Incomplete
                size = int(buf[at + 1 : end])
                if size < 0:
                    append(None)
                    at = end + 2
                    continue
                start = end + 2
                at = start + size + 2
                if len(buf) < at:
                    raise Incomplete
                append(bytes(buf[start : at - 2]))
            elif kind == 0x3A:
                end = find(_CRLF, at)
                if end < 0:
                    raise Incomplete
                append(int(buf[at + 1 : end]))
                at = end + 2
            else:
                item, at = parse_reply(buf, at)
                append(item)
        return items, at
    if kind == 0x2B:  # + simple string
        return bytes(buf[pos + 1 : end]), end + 2
    if kind == 0x2D:  # - error
        text = bytes(buf[pos + 1 : end]).decode("utf-8", errors="replace")
        if text.startswith("NOSCRIPT"):
            return NoScriptError(text), end + 2
        return ResponseError(text), end + 2
    msg = f"unexpected reply type {chr(kind)!r} from the server"
    raise ConnectionError(msg)


_MORE: Final = object()
"""What a reader's ``gets`` returns while no whole reply is buffered."""


class Reader(Protocol):
    """A RESP2 reply reader: hiredis' ``Reader`` or ``PyReader``."""

    def feed(self, data: bytes, /) -> None:
        """Buffer bytes read from the connection."""
        ...

    def gets(self) -> Any:
        """The next whole reply, or ``_MORE``."""
        ...


@final
class PyReader:
    """The pure-Python reader (``parse_reply``), used when hiredis is not installed."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes, /) -> None:
        """Buffer bytes read from the connection."""
        self._buf += data

    def gets(self) -> Any:
        """The next whole reply, or ``_MORE``."""
        buf = self._buf
        if not buf:
            return _MORE
        try:
            value, end = parse_reply(buf, 0)
        except Incomplete:
            return _MORE
        del buf[:end]
        return value


def _protocol_error(message: str) -> Exception:
    return ConnectionError(f"unexpected reply from the server: {message}")


def _load_hiredis() -> Any:
    try:
        return importlib.import_module("hiredis")
    except ImportError:  # pragma: no cover - the redis extra installs it
        return None


_HIREDIS: Final[Any] = _load_hiredis()
_PACK: Final[Any] = getattr(_HIREDIS, "pack_command", None)


def make_reader() -> Reader:
    """hiredis' C reader when installed (the ``redis`` extra brings it: it parses a
    claim's reply about 20 times faster), else ``PyReader``; both return error
    replies as ``ResponseError`` instances and bulk strings as ``bytes``."""
    if _HIREDIS is None:
        return PyReader()
    reader: Reader = _HIREDIS.Reader(
        protocolError=_protocol_error, replyError=ResponseError, notEnoughData=_MORE
    )
    return reader


def _closed_by_server() -> ConnectionError:
    return ConnectionError("the server closed the connection")


_MISSES_MAX: Final = 8
"""After this many polls in a row that found nothing, ``BusyPoll`` skips 256 waits
(2 ** 8) between tries."""

_loop_watch: tuple[object, Callable[[int], list[Any]]] | None = None
"""The event loop's epoll object and the ``poll`` of a ``select.poll`` watching its fd."""


def _loop_io_ready() -> Callable[[int], list[Any]] | None:
    """A probe of the running trio loop's own epoll file descriptor: ``probe(0)`` is
    non-empty when any descriptor the loop waits on (another task's socket, its wake-up
    socket) is ready, without taking the event from the loop. None where trio does not
    run on epoll (macOS, Windows) or its internals differ: then ``BusyPoll`` does not
    poll (it would not see other I/O while it spins)."""
    global _loop_watch
    try:
        # trio has no public handle on its epoll object: looked up defensively
        from trio._core._run import GLOBAL_RUN_CONTEXT

        epoll: Any = getattr(GLOBAL_RUN_CONTEXT.runner.io_manager, "_epoll", None)
    except (ImportError, AttributeError):
        return None
    if epoll is None:  # kqueue or IOCP: no select.epoll on those systems
        return None
    watch = _loop_watch
    if watch is not None and watch[0] is epoll:
        return watch[1]
    if not isinstance(epoll, select.epoll):
        return None
    probe = select.poll()
    probe.register(epoll.fileno(), select.POLLIN)
    _loop_watch = (epoll, probe.poll)
    return probe.poll


@final
class BusyPoll:
    """Whether, and how long, a task waiting for a reply polls its socket before it sleeps.

    A reply from a server on the same machine or the same rack often comes back within
    a few tens of microseconds, while waking a task that slept in the event loop's
    ``epoll_wait`` can cost as much again (more on a virtual machine: a sleeping vCPU
    is woken by the hypervisor). So a task that has nothing else to let run first
    polls its socket with non-blocking ``recv`` calls for up to ``budget`` seconds,
    then waits in the event loop as usual.

    It polls only while ``enabled`` (the storage turns it off while consumers of its
    queue run in this process: their handlers need the CPU more than a producer needs
    the microseconds), only when no other task is ready to run, and it stops as soon
    as the event loop has other I/O ready (``_loop_io_ready``): the process would
    otherwise sleep, and nothing else waits for it. It backs off when polls keep coming
    back empty (a distant server, a slow script): after ``k`` misses in a row it lets
    ``2 ** k`` waits go by (256 at most) before it tries again; one reply caught
    resets it. So a distant server costs about ``budget / 256`` of CPU per request.
    """

    __slots__ = ("_misses", "_skip", "budget", "caught", "enabled", "missed")

    def __init__(self, budget: float) -> None:
        self.budget = budget
        """Seconds of polling at most per wait; 0 turns polling off."""
        self.enabled = True
        """Turned off by the storage while consumers of its queue run in this process."""
        self.caught = 0
        """Polls that read bytes (each saved a sleep in the event loop)."""
        self.missed = 0
        """Polls that found nothing within ``budget`` (each cost ``budget`` of CPU)."""
        self._misses = 0
        """Misses in a row."""
        self._skip = 0
        """Waits to let go by before the next poll."""

    def read(self, sock: socket.socket) -> bytes | None:
        """Poll ``sock`` for up to ``budget`` seconds when it may pay: the bytes read
        (``b""``: the server closed the connection), or None (sleep in the event loop)."""
        if not self.budget or not self.enabled:
            return None
        if self._skip:
            self._skip -= 1
            return None
        if trio.lowlevel.current_statistics().tasks_runnable:
            return None  # others can run meanwhile: let them
        io_ready = _loop_io_ready()
        if io_ready is None:
            return None
        end = perf_counter() + self.budget
        recv = sock.recv
        while True:
            try:
                data = recv(_READ)
            except BlockingIOError:
                if io_ready(0):
                    return None  # the loop has other I/O to serve: neither a catch nor a miss
                if perf_counter() < end:
                    continue
                self.missed += 1
                misses = self._misses = min(self._misses + 1, _MISSES_MAX)
                self._skip = 1 << misses
                return None
            self.caught += 1
            self._misses = 0
            return data


_NO_POLL: Final = BusyPoll(0.0)


async def _bounded(
    wait: Callable[[socket.socket], Awaitable[None]], sock: socket.socket, deadline: float
) -> None:
    """``await wait(sock)`` shielded from the caller's cancellation, ending with
    ``trio.TooSlowError`` at ``deadline``."""
    with trio.CancelScope(shield=True, deadline=deadline) as scope:
        await wait(sock)
    if scope.cancelled_caught:
        raise trio.TooSlowError


@final
class _Connection:
    """One connection, one request at a time.

    A plain TCP connection is driven through its non-blocking socket: the request
    is written with ``send`` and the task sleeps only in ``wait_readable`` for the
    reply (trio's ``SocketStream`` would add a scheduling round to every send and
    every receive). A TLS connection goes through its ``trio.SSLStream``.
    """

    __slots__ = ("poll", "reader", "sock", "stream")

    def __init__(
        self,
        stream: trio.abc.Stream | None,
        sock: socket.socket | None,
        poll: BusyPoll = _NO_POLL,
    ) -> None:
        self.stream = stream
        self.sock = sock
        self.reader = make_reader()
        self.poll = poll
        """How this connection waits for a reply (shared by a client's connections)."""

    def parse(self) -> tuple[bool, Any]:
        """The next reply if it has been read whole: ``(True, reply)``, else ``(False, None)``."""
        value = self.reader.gets()
        if value is _MORE:
            return False, None
        if isinstance(value, ResponseError) and str(value).startswith("NOSCRIPT"):
            value = NoScriptError(str(value))
        return True, value

    async def request(self, payload: bytes) -> Any:
        """Send one request and read its reply (an error reply is returned, not raised)."""
        sock = self.sock
        if sock is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
            await self.send(payload)
            # a script's reply is never there yet: wait for it rather than try recv
            # first (this wait is also the call's checkpoint)
            await self.wait_reply(sock)
        else:
            await self.send(payload)
        return await self.receive()

    def send_nowait(self, payload: bytes) -> int:
        """Write what the socket takes now of ``payload``, without waiting; how many
        bytes (0 on a TLS connection: use ``send``)."""
        sock = self.sock
        if sock is None:
            return 0
        try:
            return sock.send(payload)
        except BlockingIOError:
            return 0

    async def send(self, payload: bytes, deadline: float | None = None) -> None:
        """Write one request without waiting for its reply (see ``Pipeline``); with
        ``deadline``, a wait for the socket runs shielded, bounded by it (``_bounded``)."""
        sock = self.sock
        if sock is None:
            assert self.stream is not None
            await self.stream.send_all(payload)
            return
        sent = self.send_nowait(payload)
        if sent < len(payload):
            view = memoryview(payload)
            while sent < len(view):
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    if deadline is None:
                        await trio.lowlevel.wait_writable(sock)
                    else:
                        await _bounded(trio.lowlevel.wait_writable, sock, deadline)

    async def wait_reply(
        self, sock: socket.socket, *, poll: bool = True, deadline: float | None = None
    ) -> None:
        """Wait until ``sock`` is readable, or until ``poll`` (the reply is expected soon:
        not a blocking command's) and ``BusyPoll`` caught bytes, which are then fed to
        the reader; either way a checkpoint (a schedule point, and a cancel point
        unless bytes were caught or ``deadline`` is given). With ``deadline``, the wait
        runs shielded, bounded by it (``_bounded``): a caught reply costs no scope."""
        if poll:
            data = self.poll.read(sock)
            if data is not None:  # (b"": closed; the caller's next recv finds it so)
                self.reader.feed(data)
                # the others run now (nothing was ready before the poll; I/O may be)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
        if deadline is None:
            await trio.lowlevel.wait_readable(sock)
        else:
            await _bounded(trio.lowlevel.wait_readable, sock, deadline)

    async def receive(self, *, poll: bool = True, deadline: float | None = None) -> Any:
        """Read the next reply (an error reply is returned, not raised); ``poll`` and
        ``deadline``: ``wait_reply``'s (a plain socket only)."""
        sock = self.sock
        while True:
            done, value = self.parse()
            if done:
                return value
            if sock is None:
                assert self.stream is not None
                data = bytes(await self.stream.receive_some(_READ))
            else:
                try:
                    data = sock.recv(_READ)
                except BlockingIOError:
                    await self.wait_reply(sock, poll=poll, deadline=deadline)
                    continue
            if not data:
                raise _closed_by_server()
            self.reader.feed(data)

    async def aclose(self) -> None:
        """Close the connection at once."""
        if self.sock is not None:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()
        elif self.stream is not None:
            await trio.aclose_forcefully(self.stream)


@final
class ScriptClient:
    """A pool of ``_Connection``: each call takes an idle one or opens one.

    A connection whose call fails or is cancelled is closed, never reused (its
    reply may still be on the way), so a connection in the pool is always
    between replies.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        connect_timeout: float,
        stream_timeout: float,
        ssl_context: ssl.SSLContext | None,
        busy_poll: float = 0.0,
    ) -> None:
        self._endpoint = endpoint
        self._connect_timeout = connect_timeout
        self._stream_timeout = stream_timeout
        self._ssl_context = ssl_context
        self.poll = BusyPoll(busy_poll)
        """How callers wait for their replies (see ``BusyPoll``); shared by the
        connections of this client."""
        self._idle: list[_Connection] = []
        self._closed = False

    async def _open(self) -> _Connection:
        endpoint = self._endpoint
        try:
            with trio.fail_after(self._connect_timeout):
                tcp = await trio.open_tcp_stream(endpoint.host, endpoint.port)
                stream: trio.abc.Stream | None = tcp
                conn: _Connection | None = None
                try:
                    if self._ssl_context is not None:
                        tls = trio.SSLStream(tcp, self._ssl_context, server_hostname=endpoint.host)
                        stream = tls
                        await tls.do_handshake()
                        conn = _Connection(stream, None)
                    else:
                        tsock = tcp.socket  # TCP_NODELAY is already set on it
                        sock = socket.socket(
                            tsock.family, tsock.type, tsock.proto, fileno=tsock.detach()
                        )
                        sock.setblocking(False)
                        stream = None
                        conn = _Connection(None, sock, self.poll)
                    if endpoint.password is not None:
                        words: list[str | float | bytes] = ["AUTH"]
                        if endpoint.username:
                            words.append(endpoint.username)
                        words.append(endpoint.password)
                        reply = await conn.request(encode_command(words))
                        if isinstance(reply, ResponseError):
                            raise AuthenticationError(str(reply))
                    if endpoint.db:
                        reply = await conn.request(encode_command(["SELECT", endpoint.db]))
                        if isinstance(reply, ResponseError):
                            raise reply
                except BaseException:
                    if stream is not None:
                        await trio.aclose_forcefully(stream)
                    elif conn is not None:
                        await conn.aclose()
                    raise
        except trio.TooSlowError:
            msg = f"no connection within {self._connect_timeout} s"
            raise TimeoutError(msg) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc
        return conn

    async def execute(self, *parts: str | float | bytes) -> Any:
        """Run one command and return its reply.

        Raises:
          coredis.exceptions.ResponseError: an error reply (NoScriptError for NOSCRIPT).
          coredis.exceptions.ConnectionError: the connection broke.
          TimeoutError: no reply within ``stream_timeout``.
          OSError: the server cannot be reached.
        """
        reply, _ = await self._exchange(encode_command(parts), None)
        return reply

    async def execute_blocking(self, blocks_seconds: float, *parts: str | float | bytes) -> Any:
        """Run one blocking command (``BLPOP key timeout``) that may hold its connection
        up to ``blocks_seconds`` before it answers.

        Raises:
          as ``execute`` (the reply is awaited ``stream_timeout`` beyond the block).
        """
        reply, _ = await self._exchange(encode_command(parts), None, blocks_seconds)
        return reply

    async def execute_wait(
        self, parts: Sequence[str | float | bytes], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """Run one command, then ``WAIT replicas timeout_ms`` on the same connection (both
        sent at once); the command's reply and how many replicas have its write.

        Raises:
          as ``execute`` (the command's error reply is raised once WAIT has answered).
        """
        payload = encode_command(parts) + encode_command(("WAIT", replicas, timeout_ms))
        reply, acked = await self._exchange(payload, timeout_ms)
        return reply, int(acked)

    async def _exchange(
        self, payload: bytes, wait_ms: int | None, blocks_seconds: float = 0.0
    ) -> tuple[Any, Any]:
        """Send ``payload`` on a pooled connection and read its reply (and, with
        ``wait_ms``, a second one: WAIT's, which may take that much longer; a blocking
        command may take ``blocks_seconds`` longer)."""
        if self._closed:
            msg = "the client is closed"
            raise ConnectionError(msg)
        conn = self._idle.pop() if self._idle else await self._open()
        reply: Any = None
        second: Any = None
        allowed = self._stream_timeout + blocks_seconds
        if wait_ms is not None:
            allowed += wait_ms / 1000
        try:
            # a bare CancelScope: trio.fail_after's context manager costs a few µs per call
            with trio.CancelScope(deadline=trio.current_time() + allowed) as scope:
                reply = await conn.request(payload)
                if wait_ms is not None:
                    second = await conn.receive()
            if scope.cancelled_caught:
                raise trio.TooSlowError
        except BaseException as exc:
            await conn.aclose()
            if isinstance(exc, trio.TooSlowError):
                waited = f" (and WAIT's {wait_ms} ms)" if wait_ms is not None else ""
                msg = f"no reply within {self._stream_timeout} s{waited}"
                raise TimeoutError(msg) from None
            if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
                raise ConnectionError(str(exc) or type(exc).__name__) from exc
            raise
        if self._closed or len(self._idle) >= _IDLE_MAX:
            await conn.aclose()
        else:
            self._idle.append(conn)
        if isinstance(reply, ResponseError):
            raise reply
        if isinstance(second, ResponseError):
            raise second
        return reply, second

    async def exchange_many(
        self, payload: bytes, count: int, *, poll: bool = True, deadline: float | None = None
    ) -> list[Any]:
        """Send ``payload`` (``count`` requests back to back) on a pooled connection and
        read their ``count`` replies, in order. Error replies are returned in their
        place, not raised (each belongs to its own request). ``poll``: whether the wait
        for the replies may poll the socket first (``BusyPoll``).

        With ``deadline`` (trio time), the exchange cannot be interrupted by the
        caller's cancellation and ends with ``trio.TooSlowError`` at the deadline (the
        connection is then closed). A polling exchange on a pooled plain connection
        runs each wait in a shielded scope of its own, so a reply caught by polling
        costs no scope at all (about 5 µs a round trip); any other (no polling, a
        connection to open, TLS) runs whole in one scope: the replies of many requests
        may take several waits. Without ``deadline``, the caller bounds the exchange.

        Raises:
          coredis.exceptions.ConnectionError: the connection broke (the connection is
            closed; which requests ran is unknown).
          trio.TooSlowError: ``deadline`` passed (which requests ran is unknown).
          OSError: the server cannot be reached.
        """
        if self._closed:
            msg = "the client is closed"
            raise ConnectionError(msg)
        if deadline is not None and (not poll or not self._idle or self._idle[-1].sock is None):
            replies: list[Any] = []
            with trio.CancelScope(shield=True, deadline=deadline) as scope:
                replies = await self._exchange_many(payload, count, poll, None)
            if scope.cancelled_caught:
                raise trio.TooSlowError
            return replies
        return await self._exchange_many(payload, count, poll, deadline)

    async def _exchange_many(
        self, payload: bytes, count: int, poll: bool, deadline: float | None
    ) -> list[Any]:
        """``exchange_many``; with ``deadline``, on a pooled plain connection only."""
        conn = self._idle.pop() if self._idle else await self._open()
        replies: list[Any] = []
        try:
            await conn.send(payload, deadline)
            if conn.sock is not None:
                await conn.wait_reply(conn.sock, poll=poll, deadline=deadline)
            for _ in range(count):
                replies.append(await conn.receive(poll=poll, deadline=deadline))
        except BaseException as exc:
            await conn.aclose()
            if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
                raise ConnectionError(str(exc) or type(exc).__name__) from exc
            raise
        if self._closed or len(self._idle) >= _IDLE_MAX:
            await conn.aclose()
        else:
            self._idle.append(conn)
        return replies

    async def open_pipeline(self) -> Pipeline:
        """A connection of its own, for requests sent without waiting for replies.

        Raises:
          TimeoutError, OSError, coredis.exceptions.RedisError: as ``execute``.
        """
        if self._closed:
            msg = "the client is closed"
            raise ConnectionError(msg)
        return Pipeline(await self._open(), self._stream_timeout)

    async def evalsha(
        self, sha: str, *, keys: Sequence[str], args: Sequence[str | float | bytes]
    ) -> Any:
        """``EVALSHA`` (the same call shape as coredis')."""
        return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def eval(
        self, script: str, *, keys: Sequence[str], args: Sequence[str | float | bytes]
    ) -> Any:
        """``EVAL`` (the same call shape as coredis')."""
        return await self.execute("EVAL", script, len(keys), *keys, *args)

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their call returns."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()


@final
class Pipeline:
    """One connection owned by one sender and one receiver: requests go out back to
    back and their replies come back in the same order (the server runs them in
    that order, so replies can be matched to requests by position).

    One task may call ``send`` while another calls ``receive``. After any failure
    the connection's state is unknown: close it and open another.
    """

    __slots__ = ("_conn", "_timeout", "closed")

    def __init__(self, conn: _Connection, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout
        self.closed = False

    async def send_encoded(self, payload: bytes) -> None:
        """Write commands already encoded (``encode_command``), back to back.

        Raises:
          coredis.exceptions.ConnectionError: the connection broke.
          OSError: the socket failed.
        """
        try:
            await self._conn.send(payload)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc

    def send_nowait(self, payload: bytes) -> int:
        """Write what the socket takes now of ``payload`` (encoded commands) without
        waiting: how many bytes; send the rest with ``send_encoded``.

        Raises:
          OSError: the socket failed.
        """
        return self._conn.send_nowait(payload)

    async def receive(self, *, shield: bool = False, blocks_seconds: float = 0.0) -> Any:
        """The reply to the oldest command not answered yet; an error reply is
        returned as its ``ResponseError`` (``NoScriptError`` for NOSCRIPT).

        With ``shield``, cancellation does not interrupt the wait (the timeout does).
        A blocking command's reply may take ``blocks_seconds`` longer.

        Raises:
          coredis.exceptions.ConnectionError: the connection broke.
          TimeoutError: no reply within ``stream_timeout`` (plus ``blocks_seconds``).
          OSError: the socket failed.
        """
        done, value = self._conn.parse()
        if done:  # read already (the replies to requests sent together come together)
            return value
        deadline = trio.current_time() + self._timeout + blocks_seconds
        with trio.CancelScope(deadline=deadline, shield=shield) as scope:
            try:
                # a blocking command's reply is not polled for (it may take that long)
                return await self._conn.receive(poll=not blocks_seconds)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionError(str(exc) or type(exc).__name__) from exc
        assert scope.cancelled_caught
        msg = f"no reply within {self._timeout + blocks_seconds} s"
        raise TimeoutError(msg)

    async def aclose(self) -> None:
        """Close the connection (a receiver blocked on it gets an error)."""
        if not self.closed:
            self.closed = True
            await self._conn.aclose()


@final
class _Call:
    """One request waiting in a ``Batcher``: its bytes, then its reply or error."""

    __slots__ = ("answered", "done", "error", "lead", "payload", "reply", "sent")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.done = trio.Event()
        self.reply: Any = None
        self.error: BaseException | None = None
        self.lead = False
        """Set while this call is to send the next round trip."""
        self.sent = False
        self.answered = False
        """Its reply or error is in."""


@final
class Batcher:
    """Auto-pipelining: requests arriving while a round trip is on the way are sent
    together in the next one (one write, then their replies in order).

    Each request stays its own command (one script: atomic by itself), and each
    caller gets its own reply or error reply. A failure of the round trip itself (a
    broken connection, no reply within ``stream_timeout``) is raised to every caller
    of that round trip: for each, the request may or may not have run.

    There is no task of its own. A caller that finds nothing on the way sends its
    request at once (a lone producer pays nothing more). While round trips are on the
    way, callers queue; a queue reaching ``size`` requests is sent at once by the
    caller that filled it (the server works on it while the next one fills), and the
    first caller of a queue, when fewer than ``depth`` round trips are on the way,
    sends it after letting the tasks ready to run queue theirs. When a round trip's
    replies are in, the first caller still queued sends the next one. A round trip,
    once sent, is read to the end (shielded, bounded by ``stream_timeout``), whoever
    is cancelled.

    Cancellation of a caller: before its request is sent, it is taken out of the
    queue (nothing ran); after, the caller returns at once with ``Cancelled`` and its
    request may have run (its reply is dropped).
    """

    __slots__ = ("_client", "_depth", "_queue", "_running", "_size", "_timeout")

    def __init__(
        self, client: ScriptClient, timeout: float, *, depth: int = 2, size: int = 50
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._depth = depth
        """Round trips on the way at most (each on a connection of its own)."""
        self._size = size
        """Requests per round trip at most."""
        self._queue: list[_Call] = []
        self._running = 0
        """Round trips on the way, or about to be sent by a caller that leads one."""

    async def request(self, payload: bytes) -> Any:
        """Send one request (in the next round trip) and return its reply.

        Raises:
          coredis.exceptions.ResponseError: its error reply (``NoScriptError`` for
            NOSCRIPT).
          coredis.exceptions.ConnectionError, TimeoutError, OSError: the round trip
            failed (the request may have run).
        """
        call = _Call(payload)
        queue = self._queue
        if self._running < self._depth:
            if not queue:
                await trio.lowlevel.checkpoint_if_cancelled()
                self._running += 1
                if self._running == 1:
                    return await self._lead(call)  # nothing on the way: send at once
                # calls come concurrently: the tasks ready to run go first, their
                # requests joining this round trip
                call.lead = True
                queue.append(call)
                await trio.lowlevel.cancel_shielded_checkpoint()
                if not call.sent:
                    return await self._lead(call)
                # a full round trip took it meanwhile: the one it was to lead is not needed
                call.lead = False
                self._hand_over()
            elif len(queue) + 1 >= self._size:
                await trio.lowlevel.checkpoint_if_cancelled()
                self._running += 1
                return await self._lead(call)  # a full round trip: send it now
            else:
                queue.append(call)
        else:
            queue.append(call)
        while True:
            try:
                await call.done.wait()
            except BaseException:
                if not call.sent:
                    queue.remove(call)
                if call.lead:  # handed the next round trip: pass it on
                    call.lead = False
                    self._hand_over()
                raise
            if call.lead:
                if not call.sent:
                    return await self._lead(call)
                # handed the next round trip, then taken by a full one: pass it on
                call.lead = False
                self._hand_over()
            if call.answered:
                break
            call.done = trio.Event()
        if call.error is not None:
            raise call.error
        return call.reply

    async def _lead(self, call: _Call) -> Any:
        """Send ``call`` and the requests queued (``size`` in all at most), read their
        replies, wake their callers, hand the next round trip on; ``call``'s reply."""
        queue = self._queue
        if call in queue:
            queue.remove(call)
        take = self._size - 1
        batch = [call, *queue[:take]]
        del queue[:take]
        for item in batch:
            item.sent = True
        call.lead = False
        # a lone call (one producer awaiting each request) may poll for its reply;
        # concurrent calls share round trips already, and need the CPU a poll takes
        lone = len(batch) == 1 and self._running == 1 and not queue
        error: BaseException | None = None
        replies: list[Any] = []
        try:
            # shielded and bounded by the client (exchange_many's deadline): a scope
            # around the call would cost every round trip about 5 µs, caught reply or not
            replies = await self._client.exchange_many(
                b"".join([item.payload for item in batch]),
                len(batch),
                poll=lone,
                deadline=trio.current_time() + self._timeout,
            )
        except trio.TooSlowError:
            error = TimeoutError(f"no reply within {self._timeout} s")
        except BaseException as exc:  # every caller of this round trip learns it
            error = exc
        self._hand_over()
        if error is not None:
            # the others get an error of their own (never this task's KeyboardInterrupt)
            shared = (
                error
                if isinstance(error, Exception)
                else ConnectionError("the round trip was interrupted")
            )
            for item in batch[1:]:
                item.error = shared
                item.answered = True
                item.done.set()
            raise error
        for item, reply in zip(batch[1:], replies[1:], strict=True):
            if isinstance(reply, ResponseError):
                item.error = reply
            else:
                item.reply = reply
            item.answered = True
            item.done.set()
        reply = replies[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _hand_over(self) -> None:
        """A round trip ended (or will not be sent): the first caller queued sends the
        next one, unless one already leads it."""
        queue = self._queue
        if queue and not queue[0].lead:
            first = queue[0]
            first.lead = True
            first.done.set()
        else:
            self._running -= 1
