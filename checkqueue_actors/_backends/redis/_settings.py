"""RedisQueueConfig (the Redis backend's settings) and the naming of a queue's keys.

No coredis here: the clients are built in ``_clients``, the URL is parsed in
``_endpoint``.
"""

from __future__ import annotations

import math
from typing import Any, Final, final

import attrs

from ..._state.policy import DELAY_MAX, RETRIES_MAX, check_name, shown
from ..._validators import finite_float, strict_int
from ._endpoint import Endpoint, parse_url, redact_url

__all__ = ["RedisQueueConfig", "endpoint_of", "key_base", "require_config", "seconds_to_ms"]


def _check_url(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    parse_url(value)


def _check_optional_str(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        # the type only: the value may be a password
        msg = f"{attribute.name} must be a str or None, not {type(value).__name__}"
        raise TypeError(msg)


def _check_prefix(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name} must be a str, not {shown(value)}"
        raise TypeError(msg)
    check_name(attribute.name, value)
    if "{" in value or "}" in value:
        msg = f"{attribute.name} must be a non-empty str without braces, not {shown(value)}"
        raise ValueError(msg)


def _check_abandon(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{attribute.name} must be a number, not {shown(value)}"
        raise TypeError(msg)
    if value == math.inf:  # never
        return
    if not (_ABANDON_MIN <= value <= DELAY_MAX):
        msg = (
            f"{attribute.name} must lie in {_ABANDON_MIN} .. {DELAY_MAX:.0f} seconds "
            f"(100 years), or be math.inf (never), not {shown(value)}"
        )
        raise ValueError(msg)


_ABANDON_MIN: Final = 0.1
"""The shortest ``group_abandon_seconds``."""
_DAY: Final = 86_400.0
_HOUR: Final = 3_600.0


@final
@attrs.frozen
class RedisQueueConfig:
    """Settings of the Redis backend (config version 1).

    Out-of-range values raise ValueError; wrong types raise TypeError. The
    password (in ``url`` or ``password``) never appears in ``repr`` or errors.
    """

    url: str = attrs.field(
        default="redis://127.0.0.1:6379/0", validator=_check_url, repr=redact_url
    )
    """``redis://[user:password@]host[:port][/db]`` or ``rediss://`` for TLS."""
    key_prefix: str = attrs.field(default="cq", validator=_check_prefix)
    """Every key this backend writes starts with ``f"{key_prefix}:"`` (a name as
    ``policy.check_name`` says, without braces)."""
    concurrency: int = attrs.field(default=10, validator=strict_int(1, 1000))
    """Handlers running at once per queue per process."""
    max_queue_size: int = attrs.field(default=100_000, validator=strict_int(1, 2**53 - 1))
    """Pending jobs at most (global); ``enqueue`` beyond it raises QueueFullError."""
    delay_multiplier: float = attrs.field(default=1.0, validator=finite_float(gt=0, le=1))
    """Scales start_delay, retry backoff and interval_seconds (0 < m <= 1); for tests."""
    lease_seconds: float = attrs.field(default=30.0, validator=finite_float(ge=0.1, le=_DAY))
    """A claimed delivery is redelivered when its holder stops renewing it for this long
    (0.1 s .. 1 day)."""
    liveness_seconds: float = attrs.field(default=1.0, validator=finite_float(ge=0.1, le=3600))
    """A process that has not said it is alive for this long is taken for dead, and its
    deliveries are redelivered at once (every process says so every fifth of it)."""
    max_payload_bytes: int = attrs.field(default=1_048_576, validator=strict_int(1, 512 << 20))
    """Largest encoded payload (UTF-8 bytes of the JSON, 1 .. 512 MiB, Redis's own limit);
    larger ones raise SerializationError."""
    connect_timeout: float = attrs.field(default=5.0, validator=finite_float(ge=0.01, le=_HOUR))
    """Seconds to establish a connection, 0.01 .. 3600 (always set: coredis defaults to none)."""
    stream_timeout: float = attrs.field(default=10.0, validator=finite_float(ge=0.01, le=_HOUR))
    """Seconds to wait for a reply, 0.01 .. 3600 (always set: coredis defaults to none)."""
    busy_poll_us: int = attrs.field(default=100, validator=strict_int(0, 10_000))
    """Microseconds (0 .. 10,000; 0: never) a task waiting for a script's reply polls
    its socket before it sleeps in the event loop, when no other task is ready to run,
    the loop has no other I/O ready and no consumer of the queue runs in this process
    (a producer). A near server's reply is then read without putting the thread to
    sleep and waking it again (which costs tens of microseconds, more on a virtual
    machine); polls that keep finding nothing back off (see docs/redis.md,
    "Performance notes")."""
    poll_interval_ms: int = attrs.field(default=1000, validator=strict_int(10, 86_400_000))
    """Fallback polling period (10 ms .. 1 day); wake-ups are pushed, so this only bounds a
    missed one."""
    max_stalls: int = attrs.field(default=2, validator=strict_int(0, RETRIES_MAX))
    """A delivery whose lease expires more than this many times (its worker died each
    time) is failed with a "stalled" error instead of being redelivered again."""
    failed_jobs_max: int = attrs.field(default=1000, validator=strict_int(0, 10_000_000))
    """Size of the failed-jobs record per queue, at most 10 million (oldest entries are
    dropped)."""
    group_abandon_seconds: float = attrs.field(default=7 * 86_400.0, validator=_check_abandon)
    """A group none of whose consumers has been seen for this long (0.1 s .. 100 years) is
    removed with its backlog; ``math.inf`` keeps groups forever."""
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
    wait_replicas: int = attrs.field(default=0, validator=strict_int(0, 100))
    """Replicas that must have an enqueue before it returns (Redis ``WAIT`` after each
    enqueue, and after each chunk of ``enqueue_many``); 0, the default, does not wait.

    Redis replicates asynchronously: without it, a job acknowledged just before its
    master dies may be missing on the replica that takes over. When fewer replicas
    confirm within ``wait_timeout_ms``, the enqueue raises BackendUnavailableError: the
    job is stored on the master but may not survive a failover; retrying with the same
    ``job_id`` is safe (it is stored at most once).
    """
    wait_timeout_ms: int = attrs.field(default=1000, validator=strict_int(1, 3_600_000))
    """How long an enqueue waits for ``wait_replicas`` replicas (milliseconds)."""

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


def endpoint_of(config: RedisQueueConfig) -> Endpoint:
    """The config's URL with the explicit username/password applied."""
    return parse_url(config.url).with_credentials(config.username, config.password)


def _tag(name: str) -> str:
    # the Redis Cluster hash tag is the text between the first "{" and the next "}";
    # escape braces so that every key of a queue hashes on its whole name
    return name.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def key_base(prefix: str, queue_name: str) -> str:
    """``"<prefix>:{<queue>}:"``: the start of every key of one queue."""
    return f"{prefix}:{{{_tag(queue_name)}}}:"


def seconds_to_ms(seconds: float) -> int:
    """Whole milliseconds, rounding a positive duration up (so a delay stays a delay)."""
    return math.ceil(seconds * 1000) if seconds > 0 else 0
