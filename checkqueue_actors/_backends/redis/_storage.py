"""RedisStorage: the Redis backend as a storage of the one runtime (see docs/redis.md).

The runtime (``_actors/``) decides; this storage stores, in Redis, with one Lua
script per change that touches more than one key (``*.lua``, run by
``_scripts``). Every rule comes from ``_state/policy.py``: the runtime passes
retry delays already computed, and the storage computes the occurrence ids and
next ticks of recurring jobs before the scripts store them.

Connections:

- the scripts go through ``_wire.ScriptClient`` (a small RESP client; coredis on
  a Redis Cluster), one request at a time per pooled connection;
- single enqueues go through a ``_wire.Batcher`` on that client (auto-pipelining:
  calls made while a round trip is on the way are sent together in the next one,
  each still its own script);
- each group's claims go through a ``_wire.Pipeline`` of their own (opened when
  the group's router first claims): up to ``claim_depth`` claims on the way, their
  replies read in the order they were sent;
- the blocking pops (``wait_for_work``, ``wait_for_timers``) and plain reads go
  through coredis.

Every failure to reach the server leaves a method as ``BackendUnavailableError``
naming the address (never the password), every refusal by the server (NOPERM,
OOM, READONLY, a script error) as ``BackendRefusedError``; the runtime backs off
and retries both. ``open`` runs ``probe.lua``: a server that refuses the queue's
scripts or keys fails the start; its reply (the server's version) picks the
scripts with Redis 7 flags or without (see ``_scripts``).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final

import trio
from coredis.exceptions import NoScriptError, RedisError, ReplicationError, ResponseError

from ..._errors import (
    BackendRefusedError,
    BackendUnavailableError,
    QueueFullError,
    SerializationError,
)
from ..._model import (
    JOB_STATES,
    NO_HEADERS,
    FailedJob,
    JobGroupState,
    JobInfo,
    PendingJob,
    QueueJob,
    QueueStats,
    RecurringJobDetails,
    new_queue_job,
)
from ..._state import policy
from ..._state.cron import CronSchedule
from ..._state.failed import error_text, split_error
from ..._storage import (
    CancelReport,
    ClaimTicket,
    Delivery,
    HeartbeatReport,
    PauseState,
    ReapReport,
    Settle,
)
from ._clients import (
    backend_error,
    is_backend_error,
    make_client,
    make_script_client,
    mapped_errors,
)
from ._codec import PayloadCodec
from ._failed import delivery_key, parse_failed_jobs
from ._registry import record_queue_name
from ._scripts import LEGACY_SCRIPTS, PROBE, SCRIPTS
from ._settings import endpoint_of, key_base, seconds_to_ms
from ._wire import Batcher, encode_command

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence

    from ..._model import JobState
    from ..._storage import NewJob, Outcome, ScheduleSpec
    from ._clients import Client
    from ._scripts import Script
    from ._settings import RedisQueueConfig
    from ._wire import Pipeline, ScriptClient

__all__ = ["RedisDelivery", "RedisStorage"]

logger = logging.getLogger("checkqueue_actors.redis")

_BATCH: Final = 500
_LIST_EXAMINE: Final = 2000
"""Entries one ``list_jobs`` script call reads one by one: about 9 ms of server time
on a 2-core machine where each costs most (delayed jobs of a group: each job's groups
are read)."""
"""Jobs a timer script (promote, reap, export) moves per call at most."""
_BULK_JOBS: Final = 1000
"""Jobs per ``enqueue_many`` script call at most (one call blocks the server while it runs)."""
_BULK_BYTES: Final = 1 << 20
"""Payload bytes per ``enqueue_many`` script call, roughly (a call holds at least one job)."""
_SHORT_WAIT: Final = 0.15
"""Timer waits up to this long are slept on trio's clock: the server checks blocking
timeouts about every 100 ms (hz 10)."""
_LEAVE_SECONDS: Final = 1.0
"""How long a stopping process tries to say it left (``leave.lua``)."""
_GRACE_MAX: Final = 60.0
"""A queue removes no abandoned group during its first minute (at most): its
application may not have registered its consumers yet."""
_FIELDS: Final = 11
"""Values per delivery in a claim's reply (see claim.lua)."""
_FLAGS_VERSION: Final = 0x07_00_00
"""Script flags (a ``#!lua`` first line) need Redis 7.0 (``REDIS_VERSION_NUM``)."""
_HOW: Final = {Settle.ACK: "0", Settle.RETRY: "1", Settle.FAIL: "2", Settle.RELEASE: "3"}
"""How an outcome is named to the scripts (see ``settle_outcomes`` in common.lua);
``Settle.CANCEL`` is never sent (``cancel_job`` ended the delivery in the script)."""
_INBOX_MS: Final = 60_000
"""How long a process's cancel inbox outlives the last cancel put in it (see cancel.lua):
a live holder empties it within a heartbeat; a dead one leaves nothing behind."""
_CANCELLED_KEEP_MS: Final = 600_000
"""How long a delivery ended by ``cancel_job`` is remembered, so that its holder's late
outcome or renewal of it is not reported as a lost lease (see cancel.lua)."""
_VIEW_FIELDS: Final = 5
"""Values per group in a job's view (see ``job_view`` in common.lua)."""
_CREATED_GROUP_MAX_RETRIES: Final = 3
"""``max_retries`` of a group an enqueue for named groups creates (its first consumer's
registration replaces it; nothing claims for the group before)."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")  # positional: cheaper than errors=
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bytes):
        value = value.decode()
    return int(float(value))


def _owed_groups(value: Any) -> tuple[str, ...] | None:
    """The groups an exported job is owed by: ``''`` for every group, else a JSON list."""
    text = _text(value)
    if not text:
        return None
    names: list[str] = json.loads(text)
    return tuple(names)


def _extras_text(timeout: float | None, headers: Mapping[str, str]) -> str:
    """A job's timeout and headers as stored in its hash (field ``e``): ``''`` for none
    (the field is then not written), else the JSON ``[timeout or null, headers]``."""
    if timeout is None and not headers:
        return ""
    return json.dumps([timeout, dict(headers)], ensure_ascii=False, separators=(",", ":"))


def _stored_extras(value: Any) -> tuple[float | None, Mapping[str, str]]:
    """A stored job's timeout and headers (``_extras_text``), which may be corrupted.

    Raises:
      SerializationError: they cannot be read back as a valid timeout and headers.
    """
    if value is None or value in (b"", ""):
        return None, NO_HEADERS
    try:
        timeout, headers = json.loads(value)
        return policy.check_job_options(timeout, headers)
    except (TypeError, ValueError) as exc:
        msg = f"the stored job has unreadable headers or timeout ({policy.shown(_text(value))})"
        raise SerializationError(msg) from exc


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(wall: datetime) -> int:
    return round(wall.timestamp() * 1000)


_CHECKED_SERVERS: Final[set[str]] = set()
"""The servers (``run_id``, else address) whose settings this process has checked: their
warnings are logged once per server, not once per queue."""


def _first_check_of(server: str) -> bool:
    """True the first time this process checks ``server``'s settings."""
    if server in _CHECKED_SERVERS:
        return False
    _CHECKED_SERVERS.add(server)
    return True


def _stored_priority(value: Any) -> int:
    """A stored job's priority, which another writer may have corrupted.

    Raises:
      SerializationError: it is not an int in the priority range.
    """
    try:
        priority = int(value)
    except (TypeError, ValueError) as exc:
        msg = f"the stored job has an unreadable priority ({policy.shown(_text(value))})"
        raise SerializationError(msg) from exc
    if not policy.PRIORITY_MIN <= priority <= policy.PRIORITY_MAX:
        msg = f"the stored job has a priority out of range ({policy.shown(priority)})"
        raise SerializationError(msg)
    return priority


def _stored_time(value: Any) -> datetime:
    """A stored job's enqueue time (ms since the epoch), which may be corrupted.

    Raises:
      SerializationError: it is not a time in milliseconds.
    """
    try:
        return _utc(int(value))
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        msg = f"the stored job has an unreadable timestamp ({policy.shown(_text(value))})"
        raise SerializationError(msg) from exc


def _info_fields(text: str) -> dict[str, str]:
    """The ``name:value`` lines of an INFO reply."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not name.startswith("#"):
            fields[name.strip()] = value.strip()
    return fields


def _pause_state(members: Sequence[Any]) -> PauseState:
    """The pause state from the members of the ``paused`` set (``''``: the whole queue)."""
    names = {_text(member) for member in members}
    queue = "" in names
    names.discard("")
    return PauseState(queue=queue, groups=frozenset(names))


_STATES: Final[dict[str, JobState]] = {state: state for state in JOB_STATES}


def _job_infos(raw: Sequence[Any], codec: PayloadCodec) -> list[JobInfo[Any]]:
    """The job views of ``job_info.lua`` or ``list_jobs.lua`` (see ``job_view`` in
    common.lua), in their order. A payload that cannot be decoded is shown as its
    stored text; a corrupted priority, timestamp or headers as 0, the epoch, none."""
    out: list[JobInfo[Any]] = []
    i = 0
    while i < len(raw):
        job_id, stored, priority, ts_ms, extras, n = raw[i : i + 6]
        i += 6
        groups: dict[str, JobGroupState] = {}
        for _ in range(_int(n)):
            group, state, attempts, available_ms, error = raw[i : i + _VIEW_FIELDS]
            i += _VIEW_FIELDS
            available = _int(available_ms)
            text, traceback = split_error(_text(error)) if error is not None else (None, None)
            groups[_text(group)] = JobGroupState(
                state=_STATES[_text(state)],
                attempts=_int(attempts),
                available_at=_utc(available) if available >= 0 else None,
                last_error=text,
                last_traceback=traceback,
            )
        try:
            data = codec.decode(stored)
        except SerializationError:
            data = _text(stored)
        try:
            shown_priority = _stored_priority(priority)
        except SerializationError:
            shown_priority = 0
        try:
            timestamp = _stored_time(ts_ms)
        except SerializationError:
            timestamp = _utc(0)
        try:
            _, headers = _stored_extras(extras)
        except SerializationError:
            headers = NO_HEADERS
        out.append(
            JobInfo(
                id=_text(job_id),
                data=data,
                priority=shown_priority,
                timestamp=timestamp,
                headers=headers,
                groups=groups,
            )
        )
    return out


class RedisDelivery(Delivery):
    """A delivery held under a lease: its key and fencing token travel with its outcome."""

    __slots__ = ("dkey", "error", "max_retries", "suspect", "timeout", "token")

    def __init__(
        self,
        group: str,
        job: QueueJob[Any] | None,
        dkey: str,
        token: str,
        max_retries: int,
        error: str | None,
        suspect: bool,
        timeout: float | None = None,
    ) -> None:
        self.group = group
        self.job = job
        self.dkey = dkey
        """The job in its group, ``"<len(group)>:<group><job id>"`` (see common.lua)."""
        self.token = token
        """The fencing token of this lease: a write with another token changes nothing."""
        self.max_retries = max_retries
        self.error = error
        self.suspect = suspect
        self.timeout = timeout


def _retry_detail(detail: tuple[float, str | None]) -> str | int:
    """A retry's detail, ``(delay_seconds, error_text)``, as ``settle_outcomes``
    (common.lua) reads it: the delay in ms, then ``:`` and the error text when there
    is one (without one, the group's last error of the job stays as it was)."""
    delay, error = detail
    ms = seconds_to_ms(delay)
    return ms if error is None else f"{ms}:{error_text(error)}"


def _outcome_args(
    args: list[str | float | bytes], outcomes: Sequence[Outcome], failed_max: int
) -> list[Outcome]:
    """Append ``outcomes`` as ``settle_outcomes`` (common.lua) reads them: the acks
    first, two values each, then the others, four values each; ``CANCEL`` outcomes
    are left out (``cancel_job`` ended those deliveries). Returns the outcomes sent,
    in the order the script answers for them."""
    acks: list[Outcome] = []
    others: list[Outcome] = []
    for outcome in outcomes:
        how = outcome[1]
        if how is Settle.ACK:
            acks.append(outcome)
        elif how is not Settle.CANCEL:  # cancel_job ended it already: nothing to write
            others.append(outcome)
    args += (failed_max, len(acks))
    for delivery, _, _ in acks:
        d: RedisDelivery = delivery  # type: ignore[assignment]  # this storage's own
        args += (d.dkey, d.token)
    if not others:
        return acks
    for delivery, how, detail in others:
        d = delivery  # type: ignore[assignment]
        if how is Settle.RETRY:
            value: str | int = _retry_detail(detail)
        elif how is Settle.FAIL:
            value = error_text(detail)
        else:
            value = ""
        args += (d.dkey, d.token, _HOW[how], value)
    return acks + others


@final
class _ClaimLine:
    """One group's claim connection: a pipeline and whether its next claim is sent
    whole (``EVAL``: a new connection, or the server forgot its scripts)."""

    __slots__ = ("eval_next", "pipe", "wait_id")

    def __init__(self, pipe: Pipeline, wait_id: str) -> None:
        self.pipe = pipe
        self.eval_next = True
        self.wait_id = wait_id
        """Names the list ``wi:<wait_id>`` that this line's waits also watch, so that
        ``interrupt_wait`` can end them (``wake.lua``)."""


@final
class RedisStorage:
    """One queue's state in Redis, shared by every process using the same server,
    ``key_prefix`` and queue name (see the module docstring)."""

    def __init__(self, name: str, config: RedisQueueConfig, payload_type: type | None) -> None:
        """
        Raises:
          TypeError: ``payload_type`` is not an attrs class.
        """
        self.name = name
        self.config = config
        self.codec = PayloadCodec(payload_type, config.max_payload_bytes)
        self.base = key_base(config.key_prefix, name)
        """The start of every key of this queue."""
        self.claim_depth = 1 if config.cluster else 2
        self.lease_seconds: float | None = config.lease_seconds
        self.reap_seconds: float | None = min(max(config.lease_seconds / 4, 0.05), 5.0)
        self.work_poll_seconds = config.poll_interval_ms / 1000
        self.wait_claims = False
        """True once open: on the fast client (not on a Redis Cluster)."""
        self.heartbeat_seconds: float | None = config.liveness_seconds / 5
        """How often this process says it is alive (see ``heartbeat``)."""
        self._liveness_ms = seconds_to_ms(config.liveness_seconds)
        endpoint = endpoint_of(config)
        self._address = endpoint.address
        self._secret = endpoint.password
        self._lease_ms = seconds_to_ms(config.lease_seconds)
        self._token_prefix = uuid.uuid4().hex
        self._wait_replicas = config.wait_replicas
        self._client: Client | None = None
        self._blocking: Client | None = None
        self._scripts: ScriptClient | None = None
        self._batcher: Batcher | None = None
        """Auto-pipelining of single enqueues (see ``enqueue``); None on a Redis Cluster."""
        self._stack: AsyncExitStack | None = None
        self._lines: dict[str, _ClaimLine] = {}
        self._line_ids = itertools.count()
        self._groups: dict[str, None] = {}
        """The groups this process registered (renewals mark them as seen)."""
        self._crons: dict[tuple[str, str | None], CronSchedule] = {}
        self._opened_at = 0.0
        self._examine = _LIST_EXAMINE
        """Entries of a zset one script call of ``list_jobs``, ``failed_jobs`` or
        ``drop_failed`` reads one by one, at most (tests make it small to see the calls
        go on from each other)."""
        self._server_checked = False
        self._set: dict[str, Script] | None = None
        """The scripts for this server's version, once ``probe.lua`` has answered."""

    @property
    def process_id(self) -> str:
        """This process's id for the queue: its entry among the living processes, and
        the prefix of its lease tokens."""
        return self._token_prefix

    # -- connections --------------------------------------------------------------------------

    async def open(self) -> None:
        """Build the clients and run the start-up probe (``probe.lua``).

        A server that cannot be reached does not fail the start (the runtime's calls
        fail fast and its loops retry); one that refuses the probe does.

        Raises:
          BackendRefusedError: the server refuses this queue's scripts or keys (an ACL
            user without the permissions, a read-only replica).
        """
        stack = AsyncExitStack()
        async with stack:
            client = make_client(self.config)
            blocking = make_client(self.config, blocking_seconds=self.work_poll_seconds)
            with mapped_errors(self._address, self._secret):
                await stack.enter_async_context(client)
                await stack.enter_async_context(blocking)
            self._client, self._blocking = client, blocking
            scripts = self._scripts = make_script_client(self.config)
            if scripts is not None:
                self._batcher = Batcher(scripts, self.config.stream_timeout)
            try:
                with mapped_errors(self._address, self._secret):
                    await self._probe(scripts if scripts is not None else client)
                    await record_queue_name(client, self.config.key_prefix, self.name)
            except BackendUnavailableError:
                pass  # probed again before the first script runs
            except BaseException:
                self._scripts = self._client = self._blocking = self._batcher = None
                if scripts is not None:
                    with trio.CancelScope(shield=True):
                        await scripts.aclose()
                raise
            self._stack = stack.pop_all()
        self._opened_at = trio.current_time()
        self.wait_claims = self._scripts is not None

    async def _probe(self, runner: Client | ScriptClient) -> dict[str, Script]:
        """Run ``probe.lua``; the scripts for this server's version (kept).

        Raises:
          coredis.exceptions.RedisError, OSError, TimeoutError: unmapped.
        """
        version = _int(await PROBE(runner, self.base))
        self._set = scripts = SCRIPTS if version >= _FLAGS_VERSION else LEGACY_SCRIPTS
        return scripts

    async def close(self) -> None:
        """Leave the living (``leave.lua``), then close every connection (the runtime has
        written every outcome it could).

        Leaving is best effort, for at most a second: a process that cannot
        say it left is counted as gone once its liveness deadline passes, as a killed
        one is (and logged as such).
        """
        scripts_set, runner = self._set, self._scripts
        if scripts_set is not None and runner is not None:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + _LEAVE_SECONDS):
                try:
                    await scripts_set["leave"](runner, self.base, self._token_prefix)
                except (RedisError, OSError, TimeoutError):
                    pass  # counted as gone later, as a killed process is
        lines, self._lines = self._lines, {}
        scripts, self._scripts = self._scripts, None
        self._batcher = None
        stack, self._stack = self._stack, None
        self._client = self._blocking = None
        with trio.CancelScope(shield=True):
            for line in lines.values():
                await line.pipe.aclose()
            if scripts is not None:
                await scripts.aclose()
        if stack is not None:
            # the coredis clients' task groups were entered by open(): exited here, outside
            # any scope opened since
            await stack.aclose()

    @asynccontextmanager
    async def _connection(self) -> AsyncGenerator[Client]:
        """The running client, or a short-lived one (before start, after stop).

        Raises:
          BackendUnavailableError: when the server cannot be reached.
        """
        with mapped_errors(self._address, self._secret):
            if self._client is not None:
                yield self._client
                return
            async with make_client(self.config) as client:
                yield client

    async def _script(self, name: str, *args: str | float | bytes) -> Any:
        """Run one script on the running clients (or a short-lived connection)."""
        runner = self._scripts if self._scripts is not None else self._client
        if runner is None:
            async with self._connection() as client:
                scripts = self._set or await self._probe(client)
                return await scripts[name](client, self.base, *args)
        try:
            scripts = self._set or await self._probe(runner)
            return await scripts[name](runner, self.base, *args)
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise

    async def _batched(self, name: str, *args: str | float | bytes) -> Any:
        """Run one script through the auto-pipelining ``Batcher`` (``_script`` without
        it): calls made while another's round trip is on the way share the next one.

        Cancellation: a call cancelled before its request is sent runs nothing; one
        cancelled after returns at once and its script may have run.
        """
        batcher = self._batcher
        if batcher is None or self._set is None:
            return await self._script(name, *args)
        script = self._set[name]
        try:
            try:
                return await batcher.request(
                    encode_command(("EVALSHA", script.sha, 1, self.base, *args))
                )
            except NoScriptError:  # the server forgot it (a restart, SCRIPT FLUSH)
                return await batcher.request(
                    encode_command(("EVAL", script.body, 1, self.base, *args))
                )
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise

    async def test_connection(self) -> None:
        """PING the server with a fresh connection (whether or not the queue runs)."""
        config = self.config
        try:
            async with make_client(config) as client:
                with trio.fail_after(config.connect_timeout + config.stream_timeout):
                    await client.ping()
        except trio.TooSlowError as exc:
            raise backend_error(self._address, TimeoutError("no reply to PING")) from exc
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise

    async def _check_server(self) -> None:
        """Warn when the server holding the queue is set up to lose jobs: once per server
        (its ``run_id``) in this process, however many queues use it.

        Checks ``appendonly`` (without it, acknowledged jobs die with the server) and
        ``maxmemory-policy`` (anything but ``noeviction`` lets Redis delete queue keys
        under memory pressure). Reads ``INFO`` on the node holding the queue; a user
        without the ``info`` permission (NOPERM) gets a "could not verify" warning.
        """
        try:
            sections = await self._script("server_info", "persistence", "memory", "server")
        except (BackendUnavailableError, BackendRefusedError) as exc:
            logger.info("could not check the server's settings: %s", exc)
            return
        persistence, memory, server = (_text(section) for section in sections)
        fields = _info_fields("\n".join((persistence, memory, server)))
        run_id = fields.get("run_id") if not server.startswith("!") else None
        if not _first_check_of(run_id or self._address):
            return
        if persistence.startswith("!") or memory.startswith("!"):
            logger.warning(
                "could not verify the settings of redis at %s (appendonly, maxmemory-policy): "
                "%s; grant the user +info to let the queue check them",
                self._address,
                (persistence if persistence.startswith("!") else memory)[1:],
            )
            return
        if fields.get("aof_enabled") == "0":
            logger.warning(
                "redis at %s runs without appendonly: the jobs it holds live in its memory "
                "only (and in its last RDB snapshot, if any), so jobs enqueued or retried "
                "since are lost if the server restarts or crashes. Turn AOF on with "
                "`CONFIG SET appendonly yes` and `appendonly yes` in redis.conf (see "
                "docs/redis.md, Guarantees)",
                self._address,
            )
        eviction = fields.get("maxmemory_policy")
        if eviction is not None and eviction != "noeviction":
            logger.warning(
                "redis at %s has maxmemory-policy %s: under memory pressure it deletes "
                "queue keys and loses jobs. Set it with `CONFIG SET maxmemory-policy "
                "noeviction` and in redis.conf (see docs/redis.md, Guarantees)",
                self._address,
                eviction,
            )

    # -- producing ----------------------------------------------------------------------------

    def encode(self, data: Any) -> str:
        """The payload as JSON text (see ``PayloadCodec.encode``)."""
        return self.codec.encode(data)

    async def _replicated(self, name: str, *args: str | float | bytes) -> Any:
        """Run one script, then wait until ``wait_replicas`` replicas have its writes.

        Raises:
          BackendUnavailableError: the server cannot be reached, or fewer replicas
            confirmed within ``wait_timeout_ms`` (the script has run on the master).
        """
        replicas, timeout_ms = self.config.wait_replicas, self.config.wait_timeout_ms
        script = SCRIPTS[name]
        try:
            runner = self._scripts if self._scripts is not None else self._client
            if runner is None:
                async with self._connection() as client:
                    return await script.replicated(client, self.base, replicas, timeout_ms, *args)
            return await script.replicated(runner, self.base, replicas, timeout_ms, *args)
        except ReplicationError as exc:
            msg = (
                f"the enqueue was stored but not confirmed by {replicas} replica(s) within "
                f"{timeout_ms} ms, so a failover may lose it; retrying with the same job_id "
                "is safe (a job is stored once)"
            )
            raise BackendUnavailableError(self._address, msg) from exc
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise

    async def enqueue(self, job: NewJob) -> bool:
        """Store one job with one script call (and ``WAIT`` with ``wait_replicas``); with
        ``job.groups``, for those groups only (a listed group that does not exist yet is
        created, waiting for its consumers)."""
        max_size = self.config.max_queue_size
        args: list[str | float | bytes] = [
            job.id,
            job.data,
            job.priority,
            seconds_to_ms(job.delay),
            max_size,
            _extras_text(job.timeout, job.headers),
        ]
        if job.groups is not None:
            args += (json.dumps(list(job.groups)), _CREATED_GROUP_MAX_RETRIES)
        # concurrent enqueues share round trips (``_batched``), each its own script
        run = self._replicated if self._wait_replicas else self._batched
        status, pending = await run("enqueue", *args)
        if _int(status) < 0:
            raise QueueFullError(policy.queue_full_message(self.name, _int(pending), 1, max_size))
        return _int(status) == 1

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> int:
        """Store several jobs, one script call per chunk of up to 1,000 jobs (or about
        1 MiB of payloads, or one priority, delay, timeout and headers).

        Each chunk's script stores nothing unless its new jobs *and every job of the
        later chunks* (counted as new) fit, so a batch that cannot fit stores nothing;
        only another producer filling the queue between two chunks can make a later
        one fail, and the error then says how many jobs were stored.
        """
        chunks: list[tuple[int, int]] = []
        start = size = 0
        for i, job in enumerate(jobs):
            first = jobs[start]
            if i > start and (
                i - start >= _BULK_JOBS
                or size + len(job.data) > _BULK_BYTES
                or (job.priority, job.delay, job.timeout)
                != (first.priority, first.delay, first.timeout)
                or job.headers != first.headers
            ):
                chunks.append((start, i))
                start, size = i, 0
            size += len(job.data)
        chunks.append((start, len(jobs)))
        max_size = self.config.max_queue_size
        run = self._replicated if self._wait_replicas else self._script
        stored = 0
        for start, end in chunks:
            first = jobs[start]
            later = len(jobs) - end
            args: list[str | float | bytes] = [
                first.priority,
                seconds_to_ms(first.delay),
                max_size,
                later,
                _extras_text(first.timeout, first.headers),
            ]
            for job in jobs[start:end]:
                args += (job.id, job.data)
            reply = await run("enqueue_many", *args)
            status, pending, count = reply[0], reply[1], reply[2]
            if _int(status) < 0:
                msg = policy.queue_full_message(
                    self.name, _int(pending), _int(count) + later, max_size
                )
                if stored:
                    msg += f"; {stored} jobs of this batch were stored by earlier chunks"
                raise QueueFullError(msg)
            stored += _int(count)
            for position in reply[3:]:
                jobs[start + _int(position) - 1].skipped = True
        return stored

    # -- consuming ----------------------------------------------------------------------------

    async def register_group(self, group: str, max_retries: int) -> None:
        """Create or refresh a durable group (its ``max_retries`` is the latest one).

        A group that exists is refreshed even when the server's memory is full; a new
        one is refused then (``BackendRefusedError``), as it grows the data set.
        """
        if _int(await self._script("register", group, max_retries)) < 0:
            await self._script("register_new", group, max_retries)
        self._groups[group] = None

    async def send_claim(self, group: str, n: int, outcomes: Sequence[Outcome]) -> ClaimTicket:
        """Send one ``claim`` script (settle ``outcomes``, then claim) on the group's
        pipeline without waiting for its reply; on a Redis Cluster, run it at once."""
        args: list[str | float | bytes] = [n, self._lease_ms, self._token_prefix, 1, group]
        order = _outcome_args(args, outcomes, self.config.failed_jobs_max) if outcomes else []
        if self._scripts is None:
            reply = await self._claim_now(args)
            return ClaimTicket(group, n, outcomes, (None, reply, order, None))
        line, script = await self._claim_line(group)
        await self._send_on(group, line, self._claim_request(line, script, args))
        return ClaimTicket(group, n, outcomes, (line, args, order, None))

    async def send_wait_claim(self, group: str, n: int, wait_seconds: float) -> ClaimTicket:
        """``BLPOP`` on the group's wake list (and on the line's own ``wi:`` list, for
        ``interrupt_wait``), and a ``claim`` script behind it on the group's pipeline:
        the server runs the claim as soon as the pop returns, and both replies come
        back together."""
        scripts = self._scripts
        if scripts is None:
            msg = "wait claims need the fast client (not on a Redis Cluster)"
            raise RuntimeError(msg)
        args: list[str | float | bytes] = [n, self._lease_ms, self._token_prefix, 1, group]
        wait = max(0.001, min(wait_seconds, self.work_poll_seconds))
        line, script = await self._claim_line(group)
        pop = encode_command(
            ("BLPOP", f"{self.base}w:{group}", f"{self.base}wi:{line.wait_id}", wait)
        )
        await self._send_on(group, line, pop + self._claim_request(line, script, args))
        return ClaimTicket(group, n, (), (line, args, [], wait))

    async def interrupt_wait(self, ticket: ClaimTicket) -> None:
        """Push a token onto the list that only this wait watches (``wake.lua``); when
        that fails, give up the group's pipeline (the claim's fate is then unknown)."""
        line: _ClaimLine | None = ticket.state[0]
        if line is None or ticket.state[3] is None or line.pipe.closed:
            await trio.lowlevel.checkpoint()
            return
        timeout = self.config.stream_timeout
        try:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout) as scope:
                # the token outlives the wait by the poll interval at most (a wait that
                # had ended already leaves it to the next one, which then returns at once)
                await self._script("wake", line.wait_id, seconds_to_ms(self.work_poll_seconds))
            if not scope.cancelled_caught:
                return
        except (BackendUnavailableError, BackendRefusedError):
            pass
        await self._break(ticket.group, line)

    async def _claim_line(self, group: str) -> tuple[_ClaimLine, Script]:
        """The group's claim pipeline (opened on first use) and the claim script."""
        scripts = self._scripts
        assert scripts is not None
        line = self._lines.get(group)
        script_set = self._set
        if line is None or script_set is None:
            try:
                if script_set is None:
                    script_set = await self._probe(scripts)
                if line is None:
                    pipe = await scripts.open_pipeline()
                    wait_id = f"{self._token_prefix}:{next(self._line_ids)}"
                    line = self._lines[group] = _ClaimLine(pipe, wait_id)
                    # consumers run here: their handlers get the CPU a poll would take
                    scripts.poll.enabled = False
            except BaseException as exc:
                if is_backend_error(exc):
                    raise backend_error(self._address, exc, self._secret) from exc
                raise
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        return line, script_set["claim"]

    def _claim_request(
        self, line: _ClaimLine, script: Script, args: Sequence[str | float | bytes]
    ) -> bytes:
        """The claim script's request for ``line``: whole (``EVAL``) on a new connection
        or after the server forgot its scripts, else by its digest."""
        if line.eval_next:
            line.eval_next = False
            return encode_command(("EVAL", script.body, 1, self.base, *args))
        return encode_command(("EVALSHA", script.sha, 1, self.base, *args))

    async def _send_on(self, group: str, line: _ClaimLine, payload: bytes) -> None:
        """Write requests on a group's pipeline, whole or not at all: a request cut in
        half would garble the connection (shielded, bounded; a failure breaks it)."""
        try:
            sent = line.pipe.send_nowait(payload)  # all of it, nearly always
            if sent < len(payload):
                deadline = trio.current_time() + self.config.stream_timeout
                with trio.CancelScope(shield=True, deadline=deadline) as scope:
                    await line.pipe.send_encoded(payload[sent:])
                if scope.cancelled_caught:
                    msg = f"could not send a claim within {self.config.stream_timeout} s"
                    raise TimeoutError(msg)
        except BaseException as exc:
            await self._break(group, line)
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise

    async def _claim_now(self, args: Sequence[str | float | bytes]) -> Any:
        """Run a claim and wait for its reply (shielded: a claim that reached the server
        must reach us, or its deliveries would wait out their lease)."""
        with trio.CancelScope(shield=True):
            return await self._script("claim", *args)

    async def receive_claim(self, ticket: ClaimTicket) -> list[Delivery]:
        """Read a claim's reply (in send order), decode its deliveries and set
        ``ticket.lost`` and ``ticket.paused``. A claim answered NOSCRIPT (the server
        forgot its scripts) runs again whole; any other failure breaks the group's
        pipeline."""
        line, sent, order, wait = ticket.state
        if line is None:
            await trio.lowlevel.checkpoint_if_cancelled()
            return self._deliveries(ticket, sent, order)
        if line.pipe.closed:
            await trio.lowlevel.checkpoint_if_cancelled()
            raise BackendUnavailableError(self._address, "the claim's connection was closed")
        try:
            if wait is not None:  # a wait claim: first the pop's reply (ignored)
                popped = await line.pipe.receive(shield=True, blocks_seconds=wait)
                if isinstance(popped, ResponseError):
                    raise popped
            raw = await line.pipe.receive(shield=True)
            if isinstance(raw, NoScriptError):
                line.eval_next = True
                raw = await self._claim_now(sent)
            elif isinstance(raw, ResponseError):
                raise raw
        except BaseException as exc:
            await self._break(ticket.group, line)
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise
        return self._deliveries(ticket, raw, order)

    def _deliveries(
        self, ticket: ClaimTicket, raw: list[Any], order: list[Outcome]
    ) -> list[Delivery]:
        if (len(raw) - len(order)) % _FIELDS == 1:  # the last value says: paused
            ticket.paused = True
            raw = raw[:-1]
        if order:
            end = len(raw) - len(order)
            ticket.lost = [
                outcome[0] for outcome, status in zip(order, raw[end:], strict=True) if not status
            ]
            raw = raw[:end]
        group = ticket.group
        decode = self.codec.decode
        max_stalls = self.config.max_stalls
        out: list[Delivery] = []
        for i in range(0, len(raw), _FIELDS):
            job_id = _text(raw[i + 3])
            job: QueueJob[Any] | None = None
            error: str | None = None
            timeout: float | None = None
            try:
                data = decode(raw[i + 4])
                extras = raw[i + 10]
                if extras is None:  # the common case: no timeout and no headers of its own
                    headers = NO_HEADERS
                else:
                    timeout, headers = _stored_extras(extras)
                job = new_queue_job(
                    job_id,
                    data,
                    _stored_priority(raw[i + 5]),
                    _stored_time(raw[i + 6]),
                    int(raw[i + 7]),
                    headers,
                )
            except SerializationError as exc:
                error = str(exc)
            out.append(
                RedisDelivery(
                    group,
                    job,
                    _text(raw[i + 1]),
                    _text(raw[i + 2]),
                    int(raw[i + 8]),
                    error,
                    raw[i + 9] > max_stalls,
                    timeout,
                )
            )
        return out

    async def _break(self, group: str, line: _ClaimLine) -> None:
        """Give up a group's pipelines after a failure: ``line`` and the group's current
        one, if another (the router gives up every claim of the group on the way, so no
        reply left on a pipeline may be read for a later claim). Their claims' deliveries
        come back when their leases expire; the next claim opens a new pipeline."""
        current = self._lines.pop(group, None)
        if not self._lines and self._scripts is not None:
            self._scripts.poll.enabled = True
        with trio.CancelScope(shield=True):
            await line.pipe.aclose()
            if current is not None:
                await current.pipe.aclose()

    async def settle(self, outcomes: Sequence[Outcome]) -> list[Delivery]:
        """Write a batch of mixed outcomes with one ``settle`` script call (``CANCEL``
        outcomes are not sent: ``cancel_job`` ended those deliveries in Redis, and a
        late outcome of one of them is not reported as a lost lease)."""
        if not outcomes:
            await trio.lowlevel.checkpoint()
            return []
        args: list[str | float | bytes] = []
        order = _outcome_args(args, outcomes, self.config.failed_jobs_max)
        if not order:  # cancelled deliveries only
            await trio.lowlevel.checkpoint()
            return []
        statuses = await self._script("settle", *args)
        return [outcome[0] for outcome, status in zip(order, statuses, strict=True) if not status]

    async def wait_for_work(self, group: str, wait_seconds: float) -> None:
        """Block on the group's wake list (one token is pushed per job made ready)."""
        blocking = self._blocking
        wait = min(wait_seconds, self.work_poll_seconds)
        if blocking is None or wait <= 0:
            await trio.lowlevel.checkpoint()
            return
        await self._blpop(blocking, f"{self.base}w:{group}", wait)

    async def _blpop(self, blocking: Client, key: str, wait: float) -> None:
        """``BLPOP key wait``: on the fast client when there is one (a pooled connection
        of its own while it blocks), else on coredis' blocking client."""
        scripts = self._scripts
        with mapped_errors(self._address, self._secret):
            if scripts is not None:
                await scripts.execute_blocking(wait, "BLPOP", key, wait)
            else:
                await blocking.blpop([key], timeout=wait)

    # -- time ---------------------------------------------------------------------------------

    async def advance(self) -> float:
        """Promote due delayed jobs and retries, fire due recurring ticks (once across
        processes); seconds until the next timer on the server's clock.

        The first call also checks the server's settings (``_check_server``).
        """
        if not self._server_checked:
            self._server_checked = True
            await self._check_server()
        out = await self._script("promote", _BATCH)
        now_ms, next_ms, moved = _int(out[0]), _int(out[1]), _int(out[2])
        due = out[3:]
        for i in range(0, len(due), 6):
            fired_next = await self._fire(
                _text(due[i]),
                _int(due[i + 1]),
                _int(due[i + 2]),
                _int(due[i + 3]),
                _text(due[i + 4]),
                _text(due[i + 5]) or None,
                now_ms,
            )
            if fired_next >= 0 and (next_ms < 0 or fired_next < next_ms):
                next_ms = fired_next
        if moved >= _BATCH or len(due) >= 6 * _BATCH:
            return 0.0  # more is due: advance again at once
        if next_ms < 0:
            return math.inf
        return max(0.0, (next_ms - now_ms) / 1000)

    async def _fire(
        self,
        job_id: str,
        due_ms: int,
        base_ms: int,
        step_ms: int,
        pattern: str,
        timezone: str | None,
        now_ms: int,
    ) -> int:
        """Fire one due tick; the schedule's next tick (ms), or -1 when it is gone."""
        due = _utc(due_ms)
        occurrence = policy.occurrence_id(job_id, due)
        if step_ms > 0:
            next_ms = policy.next_grid_tick(base_ms, step_ms, now_ms)
        else:
            next_ms = _ms(policy.next_cron_tick(self._cron(pattern, timezone), due, _utc(now_ms)))
        fired, status, current = await self._script(
            "sched_fire", job_id, due_ms, occurrence, next_ms, self.config.max_queue_size
        )
        if _int(fired) == 1 and _int(status) < 0:
            logger.warning(
                "recurring job %r: occurrence %s skipped: queue %r is full",
                job_id,
                occurrence,
                self.name,
            )
        return _int(current)

    def _cron(self, pattern: str, timezone: str | None) -> CronSchedule:
        key = (pattern, timezone)
        cron = self._crons.get(key)
        if cron is None:
            cron = self._crons[key] = CronSchedule(pattern, timezone)
        return cron

    async def wait_for_timers(self, wait_seconds: float) -> None:
        """Block on the timer wake list (pushed when a job is delayed or retried), at most
        ``poll_interval_ms``; a wait under 150 ms is slept here instead (more precise)."""
        wait = min(wait_seconds, self.work_poll_seconds)
        blocking = self._blocking
        if wait <= _SHORT_WAIT or blocking is None:
            await trio.sleep(max(wait, 0.0))
            return
        await self._blpop(blocking, f"{self.base}tw", wait)

    async def heartbeat(self) -> HeartbeatReport:
        """Say this process is alive for ``liveness_seconds``, and take back at once the
        deliveries of processes that stopped saying so (``alive.lua``): a killed worker's
        jobs come back within about ``liveness_seconds``, not after a whole lease.

        The runtime's scheduler calls it every ``heartbeat_seconds``, also while the
        queue stops (its handlers still run). A pause of the server is nobody's death:
        the script moves every deadline by the time nobody could speak.

        Returns:
          The queue's pause state, and the deliveries this process holds that
          ``cancel_job`` ended since the last heartbeat (its cancel inbox, emptied).
        """
        config = self.config
        out = await self._script(
            "alive",
            self._token_prefix,
            self._liveness_ms,
            _BATCH,
            config.max_stalls,
            config.failed_jobs_max,
        )
        reclaimed, failed, dead = _int(out[0]), _int(out[1]), _int(out[2])
        if dead or reclaimed or failed:
            logger.warning(
                "queue %r: %d process(es) stopped answering; %d of their deliveries "
                "redelivered, %d failed as stalled",
                self.name,
                dead,
                reclaimed,
                failed,
            )
        end = 4 + _int(out[3])
        inbox = out[end:]
        return HeartbeatReport(
            paused=_pause_state(out[4:end]),
            cancelled=[(_text(inbox[i]), _text(inbox[i + 1])) for i in range(0, len(inbox), 2)],
            # deliveries taken back from dead processes are ready at once (and their
            # groups woken): no timer moved
            advance=False,
        )

    async def renew(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Extend the leases of ``deliveries`` and mark this process's groups as seen."""
        args: list[str | float | bytes] = [self._lease_ms, len(self._groups), *self._groups]
        held: dict[str, Delivery] = {}
        for delivery in deliveries:
            d: RedisDelivery = delivery  # type: ignore[assignment]  # this storage's own
            args += (d.dkey, d.token)
            held[d.dkey] = d
        lost = await self._script("renew", *args)
        return [held[key] for key in map(_text, lost) if key in held]

    async def reap(self) -> ReapReport:
        """Take back expired leases (redelivered, or failed as stalled after
        ``max_stalls``); remove groups not seen for ``group_abandon_seconds``: a
        removed group's waiting jobs are set aside at once and finished for it a batch
        per call (``ReapReport.more`` while some are left)."""
        config = self.config
        abandon = config.group_abandon_seconds
        running_for = trio.current_time() - self._opened_at
        abandon_ms = (
            seconds_to_ms(abandon)
            if math.isfinite(abandon) and running_for > min(abandon, _GRACE_MAX)
            else 0
        )
        out = await self._script(
            "reap", _BATCH, config.max_stalls, config.failed_jobs_max, abandon_ms
        )
        return ReapReport(
            _int(out[0]), _int(out[1]), [_text(group) for group in out[3:]], more=bool(_int(out[2]))
        )

    # -- recurring ----------------------------------------------------------------------------

    async def schedule(self, spec: ScheduleSpec) -> bool:
        """Declare or replace a recurring job (identical: ``data`` compared as JSON)."""
        cron = spec.cron
        pattern = cron.pattern if cron is not None else None
        zone = cron.timezone if cron is not None else None
        canonical = json.dumps(json.loads(spec.data), sort_keys=True, separators=(",", ":"))
        identity = json.dumps([canonical, spec.priority, spec.interval_seconds, pattern, zone])
        stored = json.dumps(
            {
                "data": spec.data,
                "priority": spec.priority,
                "interval_seconds": spec.interval_seconds,
                "cron": pattern,
                "tz": zone,
            }
        )
        offset_ms = seconds_to_ms(spec.first_delay)
        step_ms = cron_first = 0
        if cron is not None:
            # the clock of the node holding the queue (TIME could ask another node)
            server_ms = _int(await self._script("now"))
            cron_first = _ms(cron.next_after(_utc(server_ms + offset_ms)))
        else:
            step_ms = max(1, round(spec.step * 1000))
        changed = await self._script(
            "sched_set", spec.job_id, stored, identity, offset_ms, cron_first, step_ms
        )
        return _int(changed) == 1

    async def cancel_schedule(self, job_id: str) -> bool:
        """Cancel a recurring job and drop its occurrences no group has started."""
        return _int(await self._script("sched_cancel", job_id)) == 1

    async def schedule_ids(self) -> list[str]:
        """Ids of the active recurring jobs, in order of their next tick."""
        async with self._connection() as client:
            ids = await client.zrange(f"{self.base}snext", 0, -1)
        return [_text(i) for i in ids]

    async def schedule_details(self, job_id: str) -> RecurringJobDetails[Any] | None:
        """Details of an active recurring job."""
        async with self._connection() as client:
            raw = await client.hget(f"{self.base}s:{job_id}", "spec")
            score = await client.zscore(f"{self.base}snext", job_id)
        if raw is None:
            return None
        spec = json.loads(raw)
        return RecurringJobDetails(
            job_id=job_id,
            data=self.codec.decode(spec["data"]),
            priority=spec["priority"],
            interval_seconds=spec["interval_seconds"],
            cron_pattern=spec["cron"],
            next_run_at=_utc(round(score)) if score is not None else None,
            timezone=spec["tz"],
        )

    # -- reading ------------------------------------------------------------------------------

    async def stats(self) -> QueueStats:
        """Global counters (``processing``: leases held by any process; groups: those
        with a consumer seen within one lease)."""
        out = await self._script("stats", self._lease_ms)
        return QueueStats(
            pending=_int(out[0]),
            processing=_int(out[1]),
            completed=_int(out[2]),
            failed=_int(out[3]),
            consumer_groups=_int(out[4]),
        )

    async def export_pending(self) -> list[PendingJob[Any]]:
        """Remove every pending job from Redis as it is returned (``remaining_delay`` on
        the server's clock, ``groups`` the groups that still owe it); an undecodable one
        is logged and dropped."""
        rows: list[tuple[int, int, PendingJob[Any]]] = []
        async with self._connection() as client:
            export = (self._set or await self._probe(client))["export"]
            while True:
                out = await export(client, self.base, _BATCH)
                for i in range(1, len(out), 8):
                    job_id, raw, priority, ts_ms, seq, remaining, owed, extras = out[i : i + 8]
                    try:
                        data = self.codec.decode(raw)
                        timeout, headers = _stored_extras(extras)
                    except SerializationError:
                        logger.exception("export: job %r dropped", _text(job_id))
                        continue
                    job = PendingJob(
                        id=_text(job_id),
                        data=data,
                        priority=_int(priority),
                        timestamp=_utc(_int(ts_ms)),
                        remaining_delay=_int(remaining) / 1000,
                        headers=headers,
                        groups=_owed_groups(owed),
                        timeout=timeout,
                    )
                    rows.append((-job.priority, _int(seq), job))
                if len(out) <= 1:
                    break
        rows.sort(key=lambda row: (row[0], row[1]))
        return [row[2] for row in rows]

    # -- the failed-jobs record -----------------------------------------------------------------

    async def failed_jobs(self, group: str | None, limit: int) -> list[FailedJob[Any]]:
        """The newest ``limit`` entries of the failed-jobs record (of ``group`` only
        unless None), newest first (``failed_read.lua``: at most ``_examine`` entries
        read per call, each call going on from where the one before stopped)."""
        found: list[FailedJob[Any]] = []
        seen: set[tuple[str, str]] = set()
        cursor = ""
        while True:
            out = await self._script(
                "failed_read", limit - len(found), group or "", cursor, self._examine
            )
            for job in parse_failed_jobs(out[1:], self.codec):
                if (job.job_id, job.consumer_group) not in seen:
                    seen.add((job.job_id, job.consumer_group))
                    found.append(job)
            cursor = _text(out[0])
            if not cursor or len(found) >= limit:
                return found

    async def retry_failed(self, job_id: str, group: str) -> int:
        """Requeue a failed delivery in its group alone (``failed_retry.lua``); one of
        the ``RETRY_*`` statuses of ``_state/failed.py``."""
        return _int(await self._script("failed_retry", delivery_key(group, job_id)))

    async def drop_failed(
        self, group: str | None, entries: Sequence[tuple[str, str]] | None
    ) -> int:
        """Remove ``(job_id, group)`` entries, or every entry of ``group`` (at most
        ``_examine`` entries read per call), or every entry (for None); how many went
        (``failed_drop.lua``)."""
        if entries is not None:
            keys = [delivery_key(g, job_id) for job_id, g in entries]
            if not keys:
                await trio.lowlevel.checkpoint()
                return 0
            return _int((await self._script("failed_drop", "keys", *keys))[0])
        if group is not None:
            removed, cursor = 0, ""
            while True:
                out = await self._script("failed_drop", "group", group, cursor, self._examine)
                removed += _int(out[0])
                if not _int(out[1]):
                    return removed
                cursor = _text(out[2])
        return _int((await self._script("failed_drop", "all"))[0])

    # -- job control ----------------------------------------------------------------------------

    async def set_paused(self, group: str | None, paused: bool) -> None:
        """Pause (``pause.lua``) or resume (``resume.lua``) ``group``, or the whole queue
        (``None``; resuming it resumes every group too). Stored in the queue's
        ``paused`` set: it outlives every process. Claims stop at once (claim.lua reads
        the set); a resume wakes the resumed groups' routers, and every process learns
        the state from its next heartbeat.
        """
        if paused:
            await self._script("pause", group or "")
        elif group is None:
            await self._script("resume")
        else:
            await self._script("resume", group)

    async def pause_state(self) -> PauseState:
        """The stored pause state (``SMEMBERS`` of the ``paused`` set)."""
        async with self._connection() as client:
            members = await client.smembers(f"{self.base}paused")
        return _pause_state(list(members))

    async def job_info(self, job_id: str) -> JobInfo[Any] | None:
        """Where the job stands in each of its groups, and its failed-jobs entries, read
        at once (``job_info.lua``); ``None`` when neither."""
        infos = _job_infos(await self._script("job_info", job_id), self.codec)
        return infos[0] if infos else None

    async def list_jobs(
        self, state: JobState | None, group: str | None, limit: int
    ) -> list[JobInfo[Any]]:
        """At most ``limit`` jobs in ``state`` (any but failed for None), of ``group``
        unless None (``list_jobs.lua``: its docstring says the orders and what each
        costs). One script call reads at most ``_examine`` (2,000) entries of a zset it
        scans entry by entry; when it stops there, it returns a cursor and the next
        call goes on from it, so that Redis answers other clients in between (the jobs
        of one call are read at once; it is given the ids listed before, which it does
        not list again)."""
        found: list[JobInfo[Any]] = []
        listed: set[str] = set()
        cursor = ""
        while True:
            raw = await self._script(
                "list_jobs",
                state or "",
                group or "",
                limit - len(found),
                cursor,
                self._examine,
                *listed,
            )
            for info in _job_infos(raw[1:], self.codec):
                listed.add(info.id)
                found.append(info)
            cursor = _text(raw[0])
            if not cursor or len(found) >= limit:
                return found

    async def cancel_job(self, job_id: str) -> CancelReport:
        """Take the job out of every group in which it waits and end its running
        deliveries, in one script (``cancel.lua``): each running one's lease is dropped,
        its group is done with the job, and its holder learns it from its next
        heartbeat (``HeartbeatReport.cancelled``); a later outcome of it writes
        nothing and is no lost lease. The job is then gone from the queue."""
        out = await self._script("cancel", job_id, _INBOX_MS, _CANCELLED_KEEP_MS)
        return CancelReport(
            removed=_int(out[0]), running=[_text(group) for group in out[1:]], ended=True
        )
