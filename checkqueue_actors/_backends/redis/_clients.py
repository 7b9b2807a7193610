"""coredis clients for the Redis backend, and how their failures become BackendUnavailableError.

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
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import anyio
import coredis
from anyio import TASK_STATUS_IGNORED
from coredis.cluster._discovery import DiscoveryService
from coredis.cluster._node import ClusterNodeLocation
from coredis.connection import ClusterConnection, TCPConnection
from coredis.connection._tcp import TCPLocation
from coredis.exceptions import (
    ConnectionError,
    RedisClusterError,
    RedisError,
    ReplicationError,
    ResponseError,
)
from coredis.pool import ClusterConnectionPool, ConnectionPool
from coredis.retry import NoRetryPolicy

from ..._errors import BackendUnavailableError
from ..._lifetime import unwrap_single
from ._settings import endpoint_of
from ._wire import ScriptClient

if TYPE_CHECKING:
    from collections import defaultdict
    from collections.abc import Generator
    from types import TracebackType

    from anyio.abc import TaskStatus
    from coredis.commands.request import CommandRequest

    from ._settings import RedisQueueConfig

_R = TypeVar("_R")

__all__ = [
    "BACKEND_ERRORS",
    "Client",
    "backend_error",
    "is_backend_error",
    "make_client",
    "make_script_client",
    "unavailable_as",
]

Client: TypeAlias = "coredis.Redis[bytes] | coredis.RedisCluster[bytes]"
"""A client of one server or of a Redis Cluster (both have the commands used here)."""

BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    BackendUnavailableError,
    RedisError,
    OSError,
    TimeoutError,
    EOFError,
)
"""What a failing or unreachable server raises through coredis or ``_wire`` (mapped to
BackendUnavailableError at the storage's boundary)."""


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


class _Connection(TCPConnection):
    """coredis' TCP connection, closing all of its buffers however ``run`` ends.

    coredis 6.9 creates six anyio memory streams per connection and closes them
    only once connected, so every failed connect leaves them to the garbage
    collector, which warns (ResourceWarning) about each.
    """

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        try:
            await super().run(task_status=task_status)
        finally:
            _close_buffers(self)


class _ClusterConnection(ClusterConnection):
    """coredis' cluster-node connection with the same buffer fix as ``_Connection``."""

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        try:
            await super().run(task_status=task_status)
        finally:
            _close_buffers(self)


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
    )


def is_backend_error(exc: BaseException) -> bool:
    """True for a connection/server failure (also inside coredis' exception groups)."""
    if isinstance(exc, BaseExceptionGroup):
        single = unwrap_single(exc)  # pyright: ignore[reportUnknownArgumentType]
        return single is not None and is_backend_error(single)
    return isinstance(exc, BACKEND_ERRORS)


def backend_error(address: str, exc: BaseException) -> BackendUnavailableError:
    """The public error for a failed call (the leaf cause, never the password)."""
    cause = exc
    if isinstance(exc, BaseExceptionGroup):
        single = unwrap_single(exc)  # pyright: ignore[reportUnknownArgumentType]
        if single is not None:
            cause = single
    if isinstance(cause, BackendUnavailableError):
        return cause
    return BackendUnavailableError(address, cause)


@contextmanager
def unavailable_as(address: str) -> Generator[None]:
    """Raise the failures of the calls inside as ``BackendUnavailableError`` (naming
    ``address``); anything else passes through."""
    try:
        yield
    except BaseException as exc:
        if is_backend_error(exc):
            raise backend_error(address, exc) from exc
        raise
