"""RedisQueueConfig, URL parsing, key naming and coredis client construction.

Only this package imports coredis (``import checkqueue_actors`` never does).
coredis leaves ``stream_timeout`` and ``connect_timeout`` unset and builds TLS
contexts without hostname checking (RELIABILITY.md A22, P5), so every client
here gets both timeouts and, for ``rediss://``, our own
``ssl.create_default_context()`` (CERT_REQUIRED, check_hostname=True).
With ``cluster=True`` the client is coredis' ``RedisCluster``, seeded with the
URL's node; the same timeouts, credentials and TLS context reach every node.
"""

from __future__ import annotations

import math
import ssl
from typing import TYPE_CHECKING, Any, TypeAlias, final
from urllib.parse import unquote, urlsplit

import attrs
import coredis
from anyio import TASK_STATUS_IGNORED
from coredis.connection import ClusterConnection, TCPConnection
from coredis.connection._tcp import TCPLocation
from coredis.exceptions import RedisError
from coredis.pool import ClusterConnectionPool, ConnectionPool
from coredis.retry import NoRetryPolicy

from ..._errors import BackendUnavailableError
from ..._lifetime import unwrap_single
from ..._validators import finite_float, strict_int
from ._wire import ScriptClient

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from anyio.abc import TaskStatus

__all__ = [
    "BACKEND_ERRORS",
    "Client",
    "Endpoint",
    "RedisQueueConfig",
    "backend_error",
    "key_base",
    "make_client",
    "make_script_client",
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
"""What a failing or unreachable server raises through coredis (mapped to
BackendUnavailableError at the public surface, retried with backoff inside)."""


def _check_url(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    parse_url(value)


def _check_optional_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"{attribute.name} must be a str or None, not {value!r}"
        raise TypeError(msg)


def _check_prefix(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name} must be a str, not {value!r}"
        raise TypeError(msg)
    if not value or "{" in value or "}" in value:
        msg = f"{attribute.name} must be a non-empty str without braces, not {value!r}"
        raise ValueError(msg)


def _check_abandon(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{attribute.name} must be a number, not {value!r}"
        raise TypeError(msg)
    if not (value > 0):  # math.inf means never
        msg = f"{attribute.name} must be > 0 (inf: never), not {value!r}"
        raise ValueError(msg)


def _redact(url: str) -> str:
    try:
        return repr(parse_url(url).address)
    except ValueError:
        return "'<invalid url>'"


@final
@attrs.frozen
class RedisQueueConfig:
    """Settings of the Redis backend (config version 1).

    Out-of-range values raise ValueError; wrong types raise TypeError. The
    password (in ``url`` or ``password``) never appears in ``repr`` or errors.
    """

    url: str = attrs.field(default="redis://127.0.0.1:6379/0", validator=_check_url, repr=_redact)
    """``redis://[user:password@]host[:port][/db]`` or ``rediss://`` for TLS."""
    key_prefix: str = attrs.field(default="cq", validator=_check_prefix)
    """Every key this backend writes starts with ``f"{key_prefix}:"``."""
    concurrency: int = attrs.field(default=10, validator=strict_int(1, 1000))
    """Handlers running at once per queue per process."""
    max_queue_size: int = attrs.field(default=100_000, validator=strict_int(1))
    """Pending jobs at most (global); ``enqueue`` beyond it raises QueueFullError."""
    delay_multiplier: float = attrs.field(default=1.0, validator=finite_float(gt=0, le=1))
    """Scales start_delay, retry backoff and interval_seconds (0 < m <= 1); for tests."""
    lease_seconds: float = attrs.field(default=30.0, validator=finite_float(gt=0))
    """A claimed delivery is redelivered when its holder stops renewing it for this long."""
    max_payload_bytes: int = attrs.field(default=1_048_576, validator=strict_int(1))
    """Largest encoded payload (UTF-8 bytes of the JSON); larger ones raise SerializationError."""
    connect_timeout: float = attrs.field(default=5.0, validator=finite_float(gt=0))
    """Seconds to establish a connection (always set: coredis defaults to none)."""
    stream_timeout: float = attrs.field(default=10.0, validator=finite_float(gt=0))
    """Seconds to wait for a reply (always set: coredis defaults to none)."""
    poll_interval_ms: int = attrs.field(default=1000, validator=strict_int(10))
    """Fallback polling period; wake-ups are pushed, so this only bounds a missed one."""
    max_stalls: int = attrs.field(default=2, validator=strict_int(0))
    """A delivery whose lease expires more than this many times (its worker died each
    time) is failed with a "stalled" error instead of being redelivered again."""
    failed_jobs_max: int = attrs.field(default=1000, validator=strict_int(0))
    """Size of the failed-jobs record per queue (oldest entries are dropped)."""
    group_abandon_seconds: float = attrs.field(default=7 * 86_400.0, validator=_check_abandon)
    """A group none of whose consumers has been seen for this long is removed with its
    backlog; ``math.inf`` keeps groups forever."""
    username: str | None = attrs.field(default=None, validator=_check_optional_str)
    """ACL user name (overrides the URL's)."""
    password: str | None = attrs.field(default=None, validator=_check_optional_str, repr=False)
    """Password (overrides the URL's)."""
    ssl_ca_certs: str | None = attrs.field(default=None, validator=_check_optional_str)
    """CA bundle for ``rediss://`` (default: the system's)."""
    ssl_certfile: str | None = attrs.field(default=None, validator=_check_optional_str)
    """Client certificate for mutual TLS."""
    ssl_keyfile: str | None = attrs.field(default=None, validator=_check_optional_str)
    """Private key of ``ssl_certfile``."""
    cluster: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """Connect to a Redis Cluster: ``url`` names any one node (the others are discovered
    with ``CLUSTER SLOTS``); its database must be 0."""

    def __attrs_post_init__(self) -> None:
        if self.cluster and parse_url(self.url).db != 0:
            msg = "a Redis Cluster has only database 0: drop the /<db> from url"
            raise ValueError(msg)


def require_config(config: object) -> RedisQueueConfig:
    """The config itself, or the default one for None.

    Raises:
      TypeError: for anything but a RedisQueueConfig.
    """
    if config is None:
        return RedisQueueConfig()
    if not isinstance(config, RedisQueueConfig):
        msg = f"config must be a RedisQueueConfig, not {config!r}"
        raise TypeError(msg)
    return config


@attrs.frozen
class Endpoint:
    """A parsed server address."""

    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None = attrs.field(repr=False)

    @property
    def address(self) -> str:
        """The URL without credentials (safe for messages and logs)."""
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{host}:{self.port}/{self.db}"


def parse_url(url: str) -> Endpoint:
    """Parse ``redis://`` / ``rediss://`` URLs.

    Raises:
      ValueError: for another scheme, a missing host, a bad port or db.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = f"invalid Redis URL: {exc}"
        raise ValueError(msg) from None
    if parts.scheme not in ("redis", "rediss"):
        msg = f"Redis URL must start with redis:// or rediss://, not {parts.scheme or url!r}"
        raise ValueError(msg)
    if not parts.hostname:
        msg = "Redis URL has no host"
        raise ValueError(msg)
    path = parts.path.strip("/")
    if path and not path.isdigit():
        msg = f"Redis URL path must be a database number, not {path!r}"
        raise ValueError(msg)
    if parts.query or parts.fragment:
        msg = "Redis URL options are not supported; use RedisQueueConfig fields"
        raise ValueError(msg)
    return Endpoint(
        tls=parts.scheme == "rediss",
        host=parts.hostname,
        port=port if port is not None else 6379,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def endpoint_of(config: RedisQueueConfig) -> Endpoint:
    """The config's URL with the explicit username/password applied."""
    endpoint = parse_url(config.url)
    if config.username is not None:
        endpoint = attrs.evolve(endpoint, username=config.username)
    if config.password is not None:
        endpoint = attrs.evolve(endpoint, password=config.password)
    return endpoint


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


class _ClusterPool(ClusterConnectionPool):
    """coredis' cluster pool, closing its layout's error stream when it is exited.

    coredis 6.9's ``ClusterLayout`` creates an anyio memory stream pair and never
    closes it, so each cluster client would leave two to the garbage collector
    (ResourceWarning). Our clients are entered once, so closing at exit is safe.
    """

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
        return coredis.RedisCluster(
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
        # a retried script could apply twice (a timed-out write may have landed,
        # RELIABILITY.md P2); the queue retries only what is safe to repeat
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


def _tag(name: str) -> str:
    # the Redis Cluster hash tag is the text between the first "{" and the next "}";
    # escape braces so that every key of a queue hashes on its whole name
    return name.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def key_base(prefix: str, queue_name: str) -> str:
    """``"<prefix>:{<queue>}:"``: the start of every key of one queue."""
    return f"{prefix}:{{{_tag(queue_name)}}}:"


def leaf_errors(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            yield from leaf_errors(inner)  # pyright: ignore[reportUnknownArgumentType]
    else:
        yield exc


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


def seconds_to_ms(seconds: float) -> int:
    """Whole milliseconds, rounding a positive duration up (so a delay stays a delay)."""
    return math.ceil(seconds * 1000) if seconds > 0 else 0
