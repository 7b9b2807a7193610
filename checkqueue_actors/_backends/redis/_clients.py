"""coredis clients for the Redis backend, and how their failures become our errors.

A failure to reach the server (a refused or broken connection, a timeout, a
failed authentication, a server still loading or busy) becomes
``BackendUnavailableError``; an error reply that no retry soon will change
(NOPERM, OOM, READONLY, a script error, ...) becomes ``BackendRefusedError``
(``classify``).

Only this package imports coredis (``import checkqueue_actors`` never does).
coredis leaves ``stream_timeout`` and ``connect_timeout`` unset and builds TLS
contexts without hostname checking, so every client here gets both timeouts
and, for ``rediss://``, our own ``ssl.create_default_context()``
(CERT_REQUIRED, check_hostname=True). With ``cluster=True`` the client is
coredis' ``RedisCluster``, seeded with the URL's node; the same timeouts,
credentials and TLS context reach every node.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

import anyio
import coredis
from anyio import TASK_STATUS_IGNORED, get_cancelled_exc_class
from anyio.lowlevel import checkpoint_if_cancelled
from coredis.cluster._discovery import DiscoveryService
from coredis.cluster._node import ClusterNodeLocation
from coredis.connection import ClusterConnection, TCPConnection
from coredis.connection._request import Request
from coredis.connection._tcp import TCPLocation
from coredis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,  # coredis' own, a RedisError
    ExecAbortError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterError,
    RedisError,
    ReplicationError,
    ResponseError,
    UnblockedError,
    UnknownCommandError,
    WrongTypeError,
)
from coredis.pool import ClusterConnectionPool, ConnectionPool
from coredis.retry import NoRetryPolicy

from ..._errors import BackendRefusedError, BackendUnavailableError
from ..._lifetime import unwrap_single
from ._settings import endpoint_of
from ._wire import ScriptClient

if TYPE_CHECKING:
    from collections import defaultdict
    from collections.abc import Awaitable, Generator
    from types import TracebackType

    from anyio.abc import TaskStatus
    from coredis.commands.request import CommandRequest
    from coredis.connection import BaseConnection
    from coredis.typing import ResponseType

    from ._settings import RedisQueueConfig

_R = TypeVar("_R")

__all__ = [
    "BACKEND_ERRORS",
    "Client",
    "backend_error",
    "is_backend_error",
    "make_client",
    "make_script_client",
    "mapped_errors",
    "refusal_kind",
]

Client: TypeAlias = "coredis.Redis[bytes] | coredis.RedisCluster[bytes]"
"""A client of one server or of a Redis Cluster (both have the commands used here)."""

BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    BackendUnavailableError,
    BackendRefusedError,
    RedisError,
    OSError,
    TimeoutError,
    EOFError,
)
"""What a failing or unreachable server raises through coredis or ``_wire`` (mapped to
BackendUnavailableError or BackendRefusedError at the storage's boundary)."""

_TRANSIENT: Final = frozenset(
    {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "UNBLOCKED"}
    | {"WRONGPASS", "NOAUTH"}  # authentication: reported as unavailable (docs/redis.md)
)
"""Codes of error replies that mean "not now" rather than "no": unavailable, not refused."""

_KINDS: Final[tuple[tuple[type[ResponseError], str], ...]] = (
    # coredis strips these codes from the message and raises a class of its own
    (AuthorizationError, "NOPERM"),
    (ReadOnlyError, "READONLY"),
    (WrongTypeError, "WRONGTYPE"),
    (NoScriptError, "NOSCRIPT"),
    (ExecAbortError, "EXECABORT"),
    (UnknownCommandError, "ERR"),
)

_SCRIPT_ACL: Final = ("can't access at least one of the keys", "can't run this command")
"""How Redis words an ACL refusal met inside a script (an ``ERR`` reply)."""


def _tls_context(config: RedisQueueConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ssl_ca_certs)
    if config.ssl_certfile is not None:
        context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile)
    return context


def _close_buffers(connection: TCPConnection) -> None:
    for stream in (
        connection._write_buffer_in,  # pyright: ignore[reportPrivateUsage]
        connection._write_buffer_out,  # pyright: ignore[reportPrivateUsage]
        connection._push_message_buffer_in,  # pyright: ignore[reportPrivateUsage]
        connection._push_message_buffer_out,  # pyright: ignore[reportPrivateUsage]
        connection._streamed_message_buffer_in,  # pyright: ignore[reportPrivateUsage]
        connection._streamed_message_buffer_out,  # pyright: ignore[reportPrivateUsage]
    ):
        stream.close()


class _CancelledConnect(ConnectionError):
    """Marks the error coredis raises in place of a cancellation that hit a
    connection's handshake (see ``_HandshakeRequest``)."""


class _HandshakeRequest(Request):
    """A request of a connection's handshake (HELLO, SELECT), failing quietly.

    coredis 6.9 logs "Connection attempt failed unexpectedly!" at ERROR, with an
    empty traceback, whenever a handshake fails with anything but one of its own
    errors: a handshake whose reply times out (a paused or overloaded server) or
    that is cancelled (a queue stopping while a connection is being made). A timeout
    becomes coredis' own ``ConnectionError`` (reported as BackendUnavailableError,
    which the runtime logs once per outage); a cancellation becomes
    ``_CancelledConnect``, which ``_run`` turns back into the cancellation it was.
    """

    async def get_result(self) -> ResponseType:
        try:
            return await super().get_result()
        except TimeoutError as exc:
            msg = f"no reply to the connection's handshake: {exc}"
            raise ConnectionError(msg) from exc
        except get_cancelled_exc_class():
            connection = cast("BaseConnection", self._connection)  # a weak proxy to it
            if connection._last_error is None:  # pyright: ignore[reportPrivateUsage]
                # coredis raises it in place of the cancellation, without its log line
                connection._last_error = _CancelledConnect("connection attempt cancelled")  # pyright: ignore[reportPrivateUsage]
            raise


def _handshake(connection: BaseConnection, request: Request) -> Request:
    if not connection.usable:  # not yet: a request of the handshake
        request.__class__ = _HandshakeRequest
    return request


async def _run(connection: TCPConnection, run: Awaitable[None]) -> None:
    """A connection's ``run``: its buffers closed however it ends, and a cancelled
    handshake ending in the cancellation (coredis raises an error in its place)."""
    try:
        await run
    except _CancelledConnect:
        await checkpoint_if_cancelled()
        raise
    finally:
        _close_buffers(connection)


class _Connection(TCPConnection):
    """coredis' TCP connection, closing all of its buffers however ``run`` ends, and
    failing its handshake quietly (see ``_HandshakeRequest``).

    coredis 6.9 creates six anyio memory streams per connection and closes them
    only once connected, so every failed connect leaves them to the garbage
    collector, which warns (ResourceWarning) about each.
    """

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        await _run(self, super().run(task_status=task_status))

    def create_request(self, command: bytes, *args: Any, **kwargs: Any) -> Request:
        return _handshake(self, super().create_request(command, *args, **kwargs))


class _ClusterConnection(ClusterConnection):
    """coredis' cluster-node connection with the same fixes as ``_Connection``."""

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        await _run(self, super().run(task_status=task_status))

    def create_request(self, command: bytes, *args: Any, **kwargs: Any) -> Request:
        return _handshake(self, super().create_request(command, *args, **kwargs))


@dataclasses.dataclass(unsafe_hash=True)
class _Node(ClusterNodeLocation):
    """A cluster node whose short-lived clients use ``_ClusterConnection``."""

    def as_client(self, **client_args: Any) -> coredis.Redis[Any]:
        """coredis' one-node client (for ``CLUSTER SLOTS``), with our connection class."""
        client = super().as_client(**client_args)
        client.connection_pool.connection_class = _ClusterConnection
        return client


def _node(node: ClusterNodeLocation) -> _Node:
    if isinstance(node, _Node):
        return node
    fields = {field.name: getattr(node, field.name) for field in dataclasses.fields(node)}
    return _Node(**fields)


class _Discovery(DiscoveryService):
    """coredis' discovery of the cluster's slot map, asking each node through a
    ``_ClusterConnection``.

    It connects to every node it knows until one answers, the dead master first
    when that is the one it knew first: coredis' own connections would leave six
    memory streams to the garbage collector for each such failed connect
    (ResourceWarning).
    """

    async def get_cluster_layout(
        self,
    ) -> tuple[list[ClusterNodeLocation], defaultdict[int, list[ClusterNodeLocation]]]:
        """The nodes and the slot map, as coredis reads them."""
        for known in (self._startup_nodes, self._initial_startup_nodes):
            known[:] = [_node(node) for node in known]
        return await super().get_cluster_layout()

    async def _node_require_full_coverage(self, node: ClusterNodeLocation) -> bool:
        return await super()._node_require_full_coverage(_node(node))


class _ClusterPool(ClusterConnectionPool):
    """coredis' cluster pool, closing its layout's error stream when it is exited,
    and discovering the cluster with ``_Discovery``.

    coredis 6.9's ``ClusterLayout`` creates an anyio memory stream pair and never
    closes it, so each cluster client would leave two to the garbage collector
    (ResourceWarning). Our clients are entered once, so closing at exit is safe.
    """

    def __init__(self, startup_nodes: list[TCPLocation], **kwargs: Any) -> None:
        super().__init__(startup_nodes, **kwargs)
        # the same object, with the methods of _Discovery (it adds no state)
        self.cluster_layout._discovery_service.__class__ = _Discovery  # pyright: ignore[reportPrivateUsage]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            if self._counter == 0:
                for stream in self.cluster_layout._error_stream:  # pyright: ignore[reportPrivateUsage]
                    stream.close()


class _Cluster(coredis.RedisCluster[bytes]):
    """coredis' cluster client, telling its slot map about every failed call.

    coredis refreshes its map of the cluster (``CLUSTER SLOTS``) after a few errors
    reported to it, but reports them only from its retry policy and from failures
    on a connection already made. Ours retries nothing (a script that timed out
    may have run), and a master that died refuses new connections: without this,
    a client would keep connecting to the dead master after its replica took over,
    and the queue would never resume. Each failure here is reported, so the map is
    refreshed after two of them (coredis' default) and the calls after that go to
    the new master.
    """

    async def execute_command(self, command: CommandRequest[_R]) -> _R:
        """Run ``command`` as coredis does; report a failure to reach a node."""
        try:
            return await super().execute_command(command)
        except (RedisError, OSError, TimeoutError, EOFError) as exc:
            answered = isinstance(exc, ResponseError | ReplicationError)
            if not answered or isinstance(exc, RedisClusterError):
                _report(self, exc)
            raise


def _report(client: _Cluster, exc: Exception) -> None:
    counted = isinstance(exc, ConnectionError | RedisClusterError)
    error: Exception = exc if counted else ConnectionError(str(exc) or type(exc).__name__)
    # the pool's error stream is closed once the client has been exited
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        client.connection_pool.cluster_layout.report_errors(None, error)


def make_client(config: RedisQueueConfig, *, blocking_seconds: float = 0.0) -> Client:
    """A coredis client (not yet entered) with both timeouts set and no implicit retries.

    A ``RedisCluster`` client when ``config.cluster`` is set, else a ``Redis`` one.
    ``blocking_seconds`` lengthens the read timeout for a client that issues
    blocking pops of up to that many seconds.
    """
    endpoint = endpoint_of(config)
    location = TCPLocation(endpoint.host, endpoint.port)
    ssl_context = _tls_context(config) if endpoint.tls else None
    if config.cluster:
        cluster_pool = _ClusterPool(
            [location],
            connection_class=_ClusterConnection,
            timeout=config.connect_timeout + config.stream_timeout + blocking_seconds,
            username=endpoint.username,
            password=endpoint.password,
            stream_timeout=config.stream_timeout + blocking_seconds,
            connect_timeout=config.connect_timeout,
            ssl_context=ssl_context,
            decode_responses=False,
        )
        return _Cluster(
            connection_pool=cluster_pool,
            decode_responses=False,
            # MOVED/ASK redirections are followed inside coredis whatever the policy
            retry_policy=NoRetryPolicy(),
        )
    pool = ConnectionPool(
        connection_class=_Connection,
        location=location,
        timeout=config.connect_timeout + config.stream_timeout + blocking_seconds,
        db=endpoint.db,
        username=endpoint.username,
        password=endpoint.password,
        stream_timeout=config.stream_timeout + blocking_seconds,
        connect_timeout=config.connect_timeout,
        ssl_context=ssl_context,
        decode_responses=False,
    )
    return coredis.Redis(
        connection_pool=pool,
        decode_responses=False,
        # a retried script could apply twice (a timed-out write may have landed);
        # the runtime retries only what is safe to repeat
        retry_policy=NoRetryPolicy(),
    )


def make_script_client(config: RedisQueueConfig) -> ScriptClient | None:
    """The fast client for scripts (see ``_wire``), or None on a Redis Cluster.

    It connects lazily, with the same timeouts, credentials and TLS context as
    ``make_client``'s clients.
    """
    if config.cluster:
        return None
    endpoint = endpoint_of(config)
    return ScriptClient(
        endpoint,
        connect_timeout=config.connect_timeout,
        stream_timeout=config.stream_timeout,
        ssl_context=_tls_context(config) if endpoint.tls else None,
        busy_poll=config.busy_poll_us / 1e6,
    )


def refusal_kind(exc: BaseException) -> str | None:
    """The kind of refusal (``"NOPERM"``, ``"OOM"``, ``"READONLY"``, ``"ERR"``, ...) when
    ``exc`` is an error reply that no retry soon will change; None for anything else
    (a connection failure, a timeout, a failed authentication, a server loading or busy).
    """
    if not isinstance(exc, ResponseError) or isinstance(exc, AuthenticationError | UnblockedError):
        return None  # UNBLOCKED: a blocking pop ended by a failover
    text = str(exc)
    if "max number of clients reached" in text:
        return None
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    code = text.split(" ", 1)[0]
    if code in _TRANSIENT:
        return None
    if any(words in text for words in _SCRIPT_ACL):
        return "NOPERM"
    if code.isalpha() and code.isupper():
        return code  # OOM, MISCONF, READONLY and NOPERM from _wire, ...
    return "ERR"  # coredis strips "ERR " from the message


def is_backend_error(exc: BaseException) -> bool:
    """True for a connection/server failure (also inside coredis' exception groups)."""
    if isinstance(exc, BaseExceptionGroup):
        single = unwrap_single(exc)  # pyright: ignore[reportUnknownArgumentType]
        return single is not None and is_backend_error(single)
    return isinstance(exc, BACKEND_ERRORS)


def _redact(exc: BaseException, secret: str | None) -> str:
    """``str(exc)`` without ``secret``; the exception's own message is redacted too (it
    stays chained to the error raised for it)."""
    text = str(exc)
    if secret and secret in text:
        text = text.replace(secret, "***")
        exc.args = (text,)
    return text


def backend_error(
    address: str, exc: BaseException, secret: str | None = None
) -> BackendUnavailableError | BackendRefusedError:
    """The public error for a failed call: ``BackendRefusedError`` for a refusal
    (``refusal_kind``), else ``BackendUnavailableError`` (the leaf cause). Neither
    message contains ``secret`` (the password)."""
    cause = exc
    if isinstance(exc, BaseExceptionGroup):
        single = unwrap_single(exc)  # pyright: ignore[reportUnknownArgumentType]
        if single is not None:
            cause = single
    if isinstance(cause, BackendUnavailableError | BackendRefusedError):
        return cause
    _redact(cause, secret)
    kind = refusal_kind(cause)
    if kind is not None:
        return BackendRefusedError(address, kind, str(cause))
    return BackendUnavailableError(address, cause)


@contextmanager
def mapped_errors(address: str, secret: str | None = None) -> Generator[None]:
    """Raise the failures of the calls inside as ``BackendUnavailableError`` or
    ``BackendRefusedError`` (``backend_error``); anything else passes through."""
    try:
        yield
    except BaseException as exc:
        if is_backend_error(exc):
            raise backend_error(address, exc, secret) from exc
        raise
