"""RedisQueue: the durable, multi-process backend (see docs/redis.md).

The task tree of one queue in one process::

    RedisQueue.run                   (supervisor)
    ├── keepalive nursery            (lives until the last ack is written)
    │   ├── renewer                  (extends leases, marks this process's groups seen)
    │   └── ack writer               (writes acks the dispatcher will not carry soon)
    ├── handlers nursery             (workers: run claimed deliveries in claim order)
    └── actors nursery               (cancelled by stop())
        ├── dispatcher               (sends claims, two on the way at most, with the acks;
        │                             blocks on the groups' wake lists when none is ready)
        ├── claim reader             (reads the claims' replies in order, feeds the workers)
        ├── timer                    (promotes due delayed jobs and retries, fires ticks)
        └── reaper                   (reclaims expired leases, removes abandoned groups)

State lives in Redis and every change that touches more than one key is one
Lua script (``*.lua``); this module only decides when to call them. Time
decisions are taken by the scripts on the server's clock.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections import deque
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

import attrs
import trio
from coredis.exceptions import NoScriptError, ResponseError

from ..._config import converter
from ..._errors import QueueFullError, SerializationError
from ..._model import PendingJob, QueueJob, QueueStats, RecurringJobDetails
from ..._protocols import Handler  # attrs resolves the field type at runtime
from ..._queue_base import (
    BaseQueue,
    LifeState,
    check_consume_args,
    check_enqueue_args,
    check_enqueue_many_args,
    check_job_id,
    check_recurring_args,
    current_handler_queue,
)
from ..._state.cron import CronSchedule, load_zone
from ._clients import (
    Client,
    backend_error,
    is_backend_error,
    make_client,
    make_script_client,
)
from ._scripts import SCRIPTS
from ._settings import (
    RedisQueueConfig,
    endpoint_of,
    key_base,
    require_config,
    seconds_to_ms,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable, Sequence

    from ..._model import Migration
    from ._wire import Pipeline, ScriptClient

__all__ = ["FailedJob", "RedisQueue", "RedisQueuePlugin"]

T = TypeVar("T")

logger = logging.getLogger("checkqueue_actors.redis")

_BATCH: Final = 500
_BULK_JOBS: Final = 1000
"""Jobs per ``enqueue_many`` script call at most (one call blocks the server while it runs)."""
_BULK_BYTES: Final = 1 << 20
"""Payload bytes per ``enqueue_many`` script call, roughly (a call holds at least one job)."""
_SHORT_WAIT: Final = 0.15
_PIPELINE_DEPTH: Final = 2
"""Claims on the way at once: one being answered while the next is run by the server."""
_CHAIN_MAX: Final = 16
"""Deliveries a worker runs back to back before it lets other tasks run."""
_BACKOFF_MIN: Final = 0.1
_BACKOFF_MAX: Final = 2.0


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bytes):
        value = value.decode()
    return int(float(value))


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _occurrence_id(job_id: str, wall: datetime) -> str:
    # the same shape as the in-memory backend's occurrence ids
    return f"{job_id}:{wall.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


def _info_fields(text: str) -> dict[str, str]:
    """The ``name:value`` lines of an INFO reply."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not name.startswith("#"):
            fields[name.strip()] = value.strip()
    return fields


def _dkey(group: str, job_id: str) -> str:
    # the same key as dkey() in common.lua, whose # counts bytes, not characters
    return f"{len(group.encode('utf-8'))}:{group}{job_id}"


@final
@attrs.frozen
class FailedJob:
    """One entry of a queue's failed-jobs record (a delivery that exhausted its retries)."""

    id: str
    group: str
    data: Any
    """The payload (decoded; the raw JSON text when it cannot be decoded)."""
    priority: int
    timestamp: datetime
    attempts: int
    """Retries made before the final failure."""
    error: str
    failed_at: datetime


@attrs.define(eq=False)
class _LocalGroup:
    name: str
    max_retries: int
    consumers: list[Handler[Any]] = attrs.field(factory=list[Any])
    cursor: int = 0

    def next_consumer(self) -> Handler[Any]:
        consumer = self.consumers[self.cursor % len(self.consumers)]
        self.cursor = (self.cursor + 1) % len(self.consumers)
        return consumer


@attrs.define(eq=False)
class _Delivery:
    dkey: str
    token: str
    group: _LocalGroup
    job_id: str
    raw: bytes
    priority: int
    ts_ms: int
    attempts: int
    acking: bool = False
    """Its ack is in a batch on the way to the server (the renewer leaves it alone)."""


@attrs.define(eq=False)
class _Claim:
    """A claim sent to the server and not answered yet."""

    groups: list[_LocalGroup]
    """The groups in the order the script takes from them (a group index in the
    reply points here)."""
    want: int
    """Slots reserved for it (``RedisQueue._claimed``); the unused ones are given back."""
    acks: list[_Delivery]
    """The acks written with it."""


class _Backoff:
    """Capped exponential backoff for reconnecting loops (0.1 s to 2 s)."""

    def __init__(self) -> None:
        self.delay = _BACKOFF_MIN
        self.failing = False

    def reset(self) -> None:
        if self.failing:
            logger.info("redis connection restored")
        self.delay = _BACKOFF_MIN
        self.failing = False

    async def wait(self, what: str, exc: BaseException) -> None:
        if not self.failing:
            logger.warning("redis unavailable in %s (%r); retrying with backoff", what, exc)
        else:
            logger.debug("redis still unavailable in %s: %r", what, exc)
        self.failing = True
        await trio.sleep(self.delay)
        self.delay = min(self.delay * 2, _BACKOFF_MAX)


@final
class RedisQueue(BaseQueue[T], Generic[T]):
    """A queue whose state lives in Redis, shared by every process using the same
    server, ``key_prefix`` and queue name.

    Start it with ``async with queue:`` or ``await nursery.start(queue.run)``.
    Payloads are JSON values, or attrs instances of ``payload_type`` converted
    with the package's cattrs converter; never pickled.
    """

    def __init__(
        self,
        name: str,
        config: RedisQueueConfig | None = None,
        *,
        payload_type: type | None = None,
    ) -> None:
        super().__init__(name)
        config = require_config(config)
        if payload_type is not None and not attrs.has(payload_type):
            msg = f"payload_type must be an attrs class, not {payload_type!r}"
            raise TypeError(msg)
        self._config = config
        self._payload_type = payload_type
        self._address = endpoint_of(config).address
        self._base = key_base(config.key_prefix, name)
        self._token_prefix = uuid.uuid4().hex
        self._lease_ms = seconds_to_ms(config.lease_seconds)
        self._poll = config.poll_interval_ms / 1000
        self._client: Client | None = None
        self._blocking: Client | None = None
        self._scripts: ScriptClient | None = None
        self._acks: list[_Delivery] = []
        """Finished handlers' acks not written yet."""
        self._acks_waiting = trio.Event()
        self._dispatcher_acks = False
        """The dispatcher writes the acks with its next claim (it is running and not
        blocked waiting for work); the ack writer writes them otherwise."""
        self._ready: deque[tuple[_Delivery, Handler[Any]]] = deque()
        """Claimed deliveries, in claim order, each waiting for a worker."""
        self._ack_batch: trio.Event | None = None
        """Set once the batch the ack writer is writing is written."""
        self._idle = trio.lowlevel.ParkingLot()
        self._waking = 0
        """Workers woken (or started) that have not taken a delivery yet."""
        self._workers_retire = False
        self._pipe: Pipeline | None = None
        """The dispatcher's own connection: claims are sent without waiting for the
        previous one's reply (up to ``_PIPELINE_DEPTH``), so the server works on the
        next claim while this process starts the handlers of the last one."""
        self._inflight: deque[_Claim] = deque()
        self._claim_sent = trio.Event()
        self._claim_eval = True
        """Send the claim script whole (EVAL) next time: it may not be loaded."""
        self._claim_error: BaseException | None = None
        self._drained = False
        """The last claim answered found no ready job: block on the wake lists."""
        self._groups: dict[str, _LocalGroup] = {}
        self._held: dict[str, _Delivery] = {}
        self._claimed = 0
        self._running = 0
        self._stopping = False
        self._work_changed = trio.Event()
        self._block_scope: trio.CancelScope | None = None
        self._rotate = 0
        self._handlers: trio.Nursery | None = None
        self._crons: dict[tuple[str, str | None], CronSchedule] = {}
        self._started_at = 0.0

    @property
    def config(self) -> RedisQueueConfig:
        """The queue's config."""
        return self._config

    @property
    def key_base(self) -> str:
        """The start of every key of this queue, ``"<prefix>:{<name>}:"``."""
        return self._base

    # -- connections --------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncGenerator[Client]:
        """The running client, or a short-lived one (before start, after stop).

        Raises:
          BackendUnavailableError: when the server cannot be reached.
        """
        try:
            if self._client is not None:
                yield self._client
                return
            async with make_client(self._config) as client:
                yield client
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise

    @property
    def _runner(self) -> Client | ScriptClient | None:
        """What runs scripts while the queue runs: the fast client, or coredis' on a cluster."""
        return self._scripts if self._scripts is not None else self._client

    async def _call(self, name: str, *args: str | float | bytes) -> Any:
        runner = self._runner
        if runner is None:
            async with self._connection() as client:
                return await SCRIPTS[name](client, self._base, *args)
        try:
            return await SCRIPTS[name](runner, self._base, *args)
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise

    async def test_connection(self) -> None:
        """Probe the server with a fresh connection (works whether or not the queue runs).

        Raises:
          BackendUnavailableError: naming the address (never the password) and the cause.
        """
        try:
            async with make_client(self._config) as client:
                with trio.fail_after(self._config.connect_timeout + self._config.stream_timeout):
                    await client.ping()
        except trio.TooSlowError as exc:
            raise backend_error(self._address, TimeoutError("no reply to PING")) from exc
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise

    # -- payloads -----------------------------------------------------------------------------

    def _encode(self, data: Any) -> str:
        try:
            value = converter.unstructure(data) if self._payload_type is not None else data
            text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            msg = f"payload cannot be encoded as JSON: {exc}"
            raise SerializationError(msg) from exc
        size = len(text.encode("utf-8"))
        if size > self._config.max_payload_bytes:
            msg = (
                f"payload is {size} bytes of JSON, over max_payload_bytes="
                f"{self._config.max_payload_bytes}"
            )
            raise SerializationError(msg)
        return text

    def _decode(self, raw: bytes | str) -> Any:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if len(text) > self._config.max_payload_bytes * 4:
                msg = "payload too large"
                raise ValueError(msg)  # one path for every decoding failure
            value = json.loads(text)
            if self._payload_type is not None:
                value = converter.structure(value, self._payload_type)
        except Exception as exc:
            msg = f"undecodable payload: {exc!r}"
            raise SerializationError(msg) from exc
        return value

    # -- lifetime -----------------------------------------------------------------------------

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        client = make_client(self._config)
        blocking = make_client(self._config, blocking_seconds=self._poll)
        scripts = make_script_client(self._config)
        async with client, blocking:
            self._client, self._blocking, self._scripts = client, blocking, scripts
            self._started_at = trio.current_time()
            try:
                async with trio.open_nursery() as keepalive:
                    keepalive.start_soon(self._renewer)
                    keepalive.start_soon(self._ack_writer)
                    async with trio.open_nursery() as handlers:
                        self._handlers = handlers
                        async with trio.open_nursery() as actors:
                            actors.start_soon(self._dispatcher)
                            actors.start_soon(self._claim_reader)
                            actors.start_soon(self._timer)
                            actors.start_soon(self._reaper)
                            actors.start_soon(self._check_server)
                            self._mark_started(task_status)
                            await self._stop_requested.wait()
                            self._mark_stopping()
                            self._stopping = True
                            actors.cancel_scope.cancel(reason=f"queue {self.name!r} stopping")
                        # no delivery comes in any more: running handlers finish, the
                        # deliveries not started are released, idle workers leave
                        self._workers_retire = True
                        self._waking += len(self._idle)
                        self._idle.unpark_all()
                    # the acks of the last handlers are written before the connections close
                    self._set_dispatcher_acks(False)
                    await self._flushed()
                    keepalive.cancel_scope.cancel(reason=f"queue {self.name!r} stopped")
            finally:
                self._client = self._blocking = self._scripts = None
                with trio.CancelScope(shield=True):
                    if self._pipe is not None:
                        await self._break_pipe(self._pipe)
                    if scripts is not None:
                        await scripts.aclose()

    async def _admit(self, *, allow_stopping: bool) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        state = self._state
        if state is LifeState.RUNNING or (allow_stopping and state is LifeState.STOPPING):
            return
        await self._check_open(allow_stopping=allow_stopping)

    def _poke(self) -> None:
        self._work_changed.set()

    async def _check_server(self) -> None:
        """Warn once at start when the server holding the queue is set up to lose jobs.

        Checks ``appendonly`` (without it, acknowledged jobs die with the server) and
        ``maxmemory-policy`` (anything but ``noeviction`` lets Redis delete queue keys
        under memory pressure). Reads ``INFO`` on the node holding the queue; a user
        without the ``info`` permission (NOPERM) gets a "could not verify" warning.
        """
        try:
            assert self._client is not None
            sections = await SCRIPTS["server_info"](
                self._client, self._base, "persistence", "memory"
            )
        except BaseException as exc:
            if is_backend_error(exc):
                logger.info("could not check the server's settings: %r", exc)
                return
            raise
        persistence, memory = (_text(section) for section in sections)
        if persistence.startswith("!") or memory.startswith("!"):
            logger.warning(
                "could not verify the settings of redis at %s (appendonly, maxmemory-policy): %s",
                self._address,
                (persistence if persistence.startswith("!") else memory)[1:],
            )
            return
        fields = _info_fields(persistence + "\n" + memory)
        if fields.get("aof_enabled") == "0":
            logger.warning(
                "redis at %s runs without appendonly: jobs are lost if the server dies "
                "(enable AOF, see docs/redis.md)",
                self._address,
            )
        policy = fields.get("maxmemory_policy")
        if policy is not None and policy != "noeviction":
            logger.warning(
                "redis at %s has maxmemory-policy %s: under memory pressure it deletes "
                "queue keys and loses jobs (set maxmemory-policy noeviction, see docs/redis.md)",
                self._address,
                policy,
            )

    # -- producing ----------------------------------------------------------------------------

    async def enqueue(
        self,
        data: T,
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_id: str | None = None,
    ) -> str:
        """Add a job and return its id.

        Args:
          data: The payload: a JSON value, or an instance of ``payload_type``.
          priority: Higher runs first.
          start_delay: Seconds (server clock, scaled by ``delay_multiplier``) before the
            job becomes available.
          job_id: Dedup key: while a job with this id is anywhere in the queue (waiting,
            delayed, retrying or running in any group, in any process) the call does
            nothing and returns the id.
        Returns:
          The job id (a fresh uuid4 string unless ``job_id`` was given).
        Raises:
          ValueError: for a non-int priority, or a negative or non-finite delay.
          SerializationError: the payload is not JSON-encodable or over
            ``max_payload_bytes``; nothing is stored.
          QueueFullError: when ``max_queue_size`` jobs are pending; nothing is stored.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: Redis cannot be reached (the job may or may not be
            stored: retry with the same ``job_id`` to stay safe).
        Cancellation:
          The job is stored by one script: whole or not at all.
        """
        checked_priority, delay, checked_id = check_enqueue_args(priority, start_delay, job_id)
        payload = self._encode(data)
        await self._admit(allow_stopping=True)
        the_id = checked_id if checked_id is not None else str(uuid.uuid4())
        delay_ms = seconds_to_ms(delay * self._config.delay_multiplier)
        result = await self._call(
            "enqueue", the_id, payload, checked_priority, delay_ms, self._config.max_queue_size
        )
        if _int(result[0]) < 0:
            msg = (
                f"queue {self.name!r} is full: {_int(result[1])} jobs pending "
                f"(max_queue_size={self._config.max_queue_size})"
            )
            raise QueueFullError(msg)
        return the_id

    async def enqueue_many(
        self,
        items: Iterable[T],
        *,
        priority: int = 0,
        start_delay: float | None = None,
        job_ids: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Add several jobs at once, all or nothing, and return their ids in order.

        The same as calling ``enqueue`` once per item with the same ``priority`` and
        ``start_delay`` (and the matching entry of ``job_ids``), except that every
        argument is checked and every payload encoded before anything is sent, and
        the jobs are stored by one script call per chunk of up to 1,000 jobs (or
        about 1 MiB of payloads) instead of one call per job. An id already in the
        queue, or repeated within ``job_ids``, is ignored as ``enqueue`` does, and its
        id is returned in its place.

        All or nothing: a batch that fits in one chunk is stored whole or not at all.
        A larger batch is stored chunk after chunk; each chunk's script stores nothing
        unless its own new jobs *and every job of the later chunks* (counted as new)
        fit in ``max_queue_size``, so the first chunk refuses a batch that cannot fit
        and nothing is stored. Only another producer filling the queue between two
        chunks can make a later chunk fail; the earlier chunks then stay stored and
        the ``QueueFullError`` says how many jobs were stored (retry with the same
        ``job_ids`` to add the rest without duplicates).

        Args:
          items: The payloads.
          priority: Higher runs first (for every item).
          start_delay: Seconds before the items become available (for every item).
          job_ids: Dedup keys, one per item (``None`` for a fresh uuid4).
        Returns:
          The job ids, one per item.
        Raises:
          ValueError: for a bad priority, delay or id, or ``job_ids`` of another length.
          SerializationError: a payload is not JSON-encodable or over
            ``max_payload_bytes``; nothing is stored.
          QueueFullError: the new jobs would not all fit in ``max_queue_size``.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: Redis cannot be reached (the chunk being sent may
            or may not be stored, earlier chunks are: retry with the same ``job_ids``).
        Cancellation:
          Each chunk is stored by one script, whole or not at all; a cancelled call
          may have stored its first chunks.

        .. versionadded:: 0.1.0
        """
        datas, checked_priority, delay, ids = check_enqueue_many_args(
            items, priority, start_delay, job_ids
        )
        payloads = [self._encode(data) for data in datas]
        await self._admit(allow_stopping=True)
        fresh = [job_id if job_id is not None else str(uuid.uuid4()) for job_id in ids]
        if not fresh:
            return fresh
        delay_ms = seconds_to_ms(delay * self._config.delay_multiplier)
        chunks: list[tuple[int, int]] = []
        start = size = 0
        for i, payload in enumerate(payloads):
            if i > start and (i - start >= _BULK_JOBS or size + len(payload) > _BULK_BYTES):
                chunks.append((start, i))
                start, size = i, 0
            size += len(payload)
        chunks.append((start, len(payloads)))
        stored = 0
        for start, end in chunks:
            args: list[str | float | bytes] = [
                checked_priority,
                delay_ms,
                self._config.max_queue_size,
                len(fresh) - end,
            ]
            for i in range(start, end):
                args += (fresh[i], payloads[i])
            result = await self._call("enqueue_many", *args)
            if _int(result[0]) < 0:
                msg = (
                    f"queue {self.name!r} is full: {_int(result[1])} jobs pending, "
                    f"{_int(result[2]) + len(fresh) - end} more do not fit "
                    f"(max_queue_size={self._config.max_queue_size})"
                )
                if stored:
                    msg += f"; {stored} jobs of this batch were stored by earlier chunks"
                raise QueueFullError(msg)
            stored += _int(result[2])
        return fresh

    # -- consuming ----------------------------------------------------------------------------

    async def consume(
        self, handler: Handler[T], *, consumer_group: str, max_retries: int = 3
    ) -> None:
        """Register one consumer in ``consumer_group``.

        The group is durable and shared by every process: consumers of one group
        compete (round-robin within this process), every group gets every job.
        The first group ever registered also gets the jobs enqueued before.

        Raises:
          ValueError: for a bad argument, or a ``max_retries`` other than the one this
            process registered the group with.
          QueueStoppedError: once the queue is stopping.
          BackendUnavailableError: Redis cannot be reached.
        """
        check_consume_args(handler, consumer_group, max_retries)
        await self._admit(allow_stopping=False)
        local = self._groups.get(consumer_group)
        if local is not None and local.max_retries != max_retries:
            msg = (
                f"consumer group {consumer_group!r} has max_retries={local.max_retries}; "
                f"a consumer cannot join it with max_retries={max_retries}"
            )
            raise ValueError(msg)
        await self._call("register", consumer_group, max_retries)
        if local is None:
            local = self._groups.setdefault(
                consumer_group, _LocalGroup(consumer_group, max_retries)
            )
        local.consumers.append(handler)
        self._drained = False
        if self._block_scope is not None:
            self._block_scope.cancel()  # listen on the new group's wake list too
        self._poke()

    async def _dispatcher(self) -> None:
        """Send claims: as soon as a slot is free when none is on the way, or for at
        least half the slots while one is; the acks of the handlers finished
        meanwhile go with each claim (one call for both)."""
        backoff = _Backoff()
        concurrency = self._config.concurrency
        half = (concurrency + 1) // 2
        try:
            while True:
                self._set_dispatcher_acks(True)
                if self._claim_error is not None:
                    exc, self._claim_error = self._claim_error, None
                    self._set_dispatcher_acks(False)
                    await backoff.wait("dispatcher", exc)
                    continue
                free = concurrency - self._claimed
                inflight = len(self._inflight)
                depth = _PIPELINE_DEPTH if self._scripts is not None else 1
                if (
                    not self._groups
                    or free <= 0
                    or inflight >= depth
                    or (inflight and (free < half or self._drained))
                ):
                    if free <= 0 and not inflight:
                        self._set_dispatcher_acks(False)  # no claim soon: the writer acks
                    self._work_changed = trio.Event()
                    await self._work_changed.wait()
                    continue
                try:
                    if self._drained and not self._acks:
                        # the acks of handlers finishing while it blocks: the writer's
                        self._set_dispatcher_acks(False)
                        await self._wait_for_work()
                        self._drained = False
                    else:
                        # with room for two claims on the way, each takes half the
                        # slots: the server runs one while this process runs the other's
                        await self._send_claim(min(free, half) if depth > 1 else free)
                    backoff.reset()
                except BaseException as exc:
                    if not is_backend_error(exc):
                        raise
                    self._set_dispatcher_acks(False)
                    await backoff.wait("dispatcher", exc)
        finally:
            self._set_dispatcher_acks(False)

    def _set_dispatcher_acks(self, on: bool) -> None:
        self._dispatcher_acks = on
        if not on and self._acks:
            self._acks_waiting.set()

    async def _send_claim(self, free: int) -> None:
        """Claim up to ``free`` jobs across the groups (rotated for fairness)."""
        groups = list(self._groups.values())
        self._rotate = (self._rotate + 1) % len(groups)
        groups = groups[self._rotate :] + groups[: self._rotate]
        scripts = self._scripts
        pipe = self._pipe
        if scripts is not None and pipe is None:
            pipe = self._pipe = await scripts.open_pipeline()
            self._claim_eval = True
        args: list[str | float | bytes] = [
            free,
            self._lease_ms,
            self._token_prefix,
            len(groups),
            *(group.name for group in groups),
        ]
        acks = self._take_acks()
        for delivery in acks:
            args += (delivery.dkey, delivery.token)
        claim = _Claim(groups, free, acks)
        self._claimed += free  # reserved until the reply tells how many were taken
        self._inflight.append(claim)
        if pipe is None:
            # Redis Cluster, through coredis: one claim at a time, answered here
            runner = self._runner
            assert runner is not None
            raw: Any = []
            try:
                # a claim that reached Redis must also reach us, or its deliveries
                # would wait out their lease; the call is bounded by stream_timeout
                with trio.CancelScope(shield=True):
                    raw = await SCRIPTS["claim"](runner, self._base, *args)
            except BaseException:
                self._fail_inflight()
                raise
            self._inflight.popleft()
            self._apply_claim(claim, raw)
            return
        script = SCRIPTS["claim"]
        try:
            # a request cut in half would garble the connection: shielded, bounded
            deadline = trio.current_time() + self._config.stream_timeout
            with trio.CancelScope(shield=True, deadline=deadline) as scope:
                if self._claim_eval:
                    self._claim_eval = False
                    await pipe.send("EVAL", script.body, 1, self._base, *args)
                else:
                    await pipe.send("EVALSHA", script.sha, 1, self._base, *args)
            if scope.cancelled_caught:
                msg = f"could not send a claim within {self._config.stream_timeout} s"
                raise TimeoutError(msg)
        except BaseException:
            await self._break_pipe(pipe)  # shielded
            raise
        self._claim_sent.set()

    async def _claim_reader(self) -> None:
        """Read the claims' replies in order and hand their deliveries to the workers."""
        try:
            while True:
                if not self._inflight or self._pipe is None:
                    self._claim_sent = trio.Event()
                    await self._claim_sent.wait()
                    continue
                await self._read_claim(self._pipe)
        finally:
            # a claim sent just before the stop must still be answered
            while self._inflight and self._pipe is not None:
                await self._read_claim(self._pipe)

    async def _read_claim(self, pipe: Pipeline) -> None:
        claim = self._inflight[0]
        try:
            # read even while stopping: the claimed deliveries are then released
            raw = await pipe.receive(shield=True)
        except BaseException as exc:
            if not is_backend_error(exc):
                raise
            if pipe is self._pipe:
                self._claim_error = exc
            await self._break_pipe(pipe)
            self._poke()
            return
        if pipe is not self._pipe or not self._inflight or self._inflight[0] is not claim:
            return  # the pipe broke meanwhile: its claims were given up
        self._inflight.popleft()
        if isinstance(raw, ResponseError):
            if isinstance(raw, NoScriptError):
                self._claim_eval = True  # the server lost its scripts: load it again
            else:
                self._claim_error = raw
            self._give_up(claim)
            self._poke()
            return
        self._apply_claim(claim, raw)

    def _apply_claim(self, claim: _Claim, raw: list[Any]) -> None:
        """Queue a claim's deliveries for the workers, in claim order (priority, then
        FIFO); settle the acks written with it."""
        acks = claim.acks
        if acks:
            self._acks_settled(acks, raw[len(raw) - len(acks) :])
            raw = raw[: len(raw) - len(acks)]
        count = len(raw) // 8
        self._claimed -= claim.want - count
        self._drained = count == 0
        ready = self._ready
        for i in range(0, len(raw), 8):
            group = claim.groups[_int(raw[i]) - 1]
            delivery = _Delivery(
                dkey=_text(raw[i + 1]),
                token=_text(raw[i + 2]),
                group=group,
                job_id=_text(raw[i + 3]),
                raw=raw[i + 4],
                priority=_int(raw[i + 5]),
                ts_ms=_int(raw[i + 6]),
                attempts=_int(raw[i + 7]),
            )
            self._held[delivery.dkey] = delivery
            ready.append((delivery, group.next_consumer()))
        if ready and not self._waking:
            self._wake_worker()
        self._poke()

    def _wake_worker(self) -> None:
        """Wake a parked worker, or start one (workers busy in a handler, or waiting
        for a nack to be written, hold no delivery of ``_ready``)."""
        self._waking += 1
        if len(self._idle):
            self._idle.unpark()
        else:
            handlers = self._handlers
            assert handlers is not None
            handlers.start_soon(self._worker)

    def _give_up(self, claim: _Claim) -> None:
        """A claim not known to have run: free its slots; its acks go back to be
        written again (an ack already written finds its lease gone: harmless)."""
        self._claimed -= claim.want
        if claim.acks:
            for delivery in claim.acks:
                delivery.acking = False
            self._acks[:0] = claim.acks
            if not self._dispatcher_acks:
                self._acks_waiting.set()

    def _fail_inflight(self) -> None:
        while self._inflight:
            self._give_up(self._inflight.popleft())
        self._poke()

    async def _break_pipe(self, pipe: Pipeline) -> None:
        """Give up a broken pipeline and the claims on it (a claim that did run holds
        its jobs until their lease expires; the reaper then redelivers them)."""
        if pipe is self._pipe:
            self._pipe = None
            self._fail_inflight()
        with trio.CancelScope(shield=True):
            await pipe.aclose()

    async def _wait_for_work(self) -> None:
        """Block on the groups' wake lists (pushed by enqueue and promotion) or poll."""
        assert self._blocking is not None
        keys = [f"{self._base}w:{name}" for name in self._groups]
        with trio.CancelScope() as scope:
            self._block_scope = scope
            try:
                await self._blocking.blpop(keys, timeout=self._poll)
            finally:
                self._block_scope = None

    # -- workers ------------------------------------------------------------------------------

    async def _worker(self) -> None:
        """Run claimed deliveries one after the other, in claim order.

        A worker takes the next delivery as soon as its handler returns, without a
        task switch; a handler thus starts as its delivery leaves ``_ready``, and
        handlers start in claim order. Idle workers park until the reader has more.
        """
        ready = self._ready
        chained = 0
        self._waking -= 1
        while True:
            if not ready:
                if self._workers_retire:
                    return
                chained = 0
                await self._idle.park()
                self._waking -= 1
                continue
            delivery, handler = ready.popleft()
            if ready and not self._waking:
                # the next delivery gets a worker of its own should this handler block;
                # one woken at a time: a handler that does not block chains to it first
                self._wake_worker()
            await self._run(delivery, handler)
            chained += 1
            if chained >= _CHAIN_MAX:
                chained = 0
                await trio.lowlevel.checkpoint()  # handlers that never yield: let others run

    async def _run(self, delivery: _Delivery, handler: Handler[Any]) -> None:
        released = False
        try:
            if self._stopping:
                await self._settle(delivery, "release")
                return
            try:
                data = self._decode(delivery.raw)
            except SerializationError as exc:
                logger.error("job %r: %s; failed without retries", delivery.job_id, exc)
                await self._settle(delivery, "nack", str(exc), final=True)
                return
            job = QueueJob(
                id=delivery.job_id,
                data=data,
                priority=delivery.priority,
                timestamp=_utc(delivery.ts_ms),
                attempts=delivery.attempts,
            )
            self._running += 1
            reset = current_handler_queue.set(self)
            try:
                await handler(job)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.info("job %r failed in group %r: %s", job.id, delivery.group.name, error)
            else:
                # the slot is free now: the dispatcher claims the next job and writes
                # this ack in the same call (or the writer writes it)
                self._claimed -= 1
                released = True
                delivery.acking = True
                self._acks.append(delivery)
                if not self._dispatcher_acks:
                    self._acks_waiting.set()
                return
            finally:
                current_handler_queue.reset(reset)
                self._running -= 1
            await self._settle(delivery, "nack", error)
        finally:
            if not released:
                self._held.pop(delivery.dkey, None)
                self._claimed -= 1
            self._poke()

    # -- acks ---------------------------------------------------------------------------------

    def _take_acks(self) -> list[_Delivery]:
        batch, self._acks = self._acks, []
        return batch

    async def _ack_writer(self) -> None:
        """Write the acks the dispatcher will not carry soon (it blocks waiting for
        work, backs off, or the queue stops): everything waiting, one call per batch."""
        while True:
            if not self._acks or self._dispatcher_acks or self._ack_batch is not None:
                self._acks_waiting = trio.Event()
                await self._acks_waiting.wait()
                continue
            with trio.CancelScope(shield=True):
                await self._write_ack_batch()

    async def _flushed(self) -> None:
        """Write every ack left (the dispatcher has stopped, the handlers have finished)."""
        while True:
            if self._ack_batch is not None:
                await self._ack_batch.wait()
            elif self._acks:
                await self._write_ack_batch()
            else:
                return

    async def _write_ack_batch(self) -> None:
        """One ``ack`` script for the acks waiting, retried through short outages like
        ``_settle`` (given up after a lease: the jobs are then redelivered)."""
        batch = self._take_acks()
        self._ack_batch = done = trio.Event()
        backoff = _Backoff()
        deadline = trio.current_time() + max(self._config.lease_seconds, 1.0)
        args: list[str | float | bytes] = []
        for delivery in batch:
            args += (delivery.dkey, delivery.token)
        statuses: Sequence[Any] | None = None
        try:
            while (runner := self._runner) is not None:
                try:
                    statuses = await SCRIPTS["ack"](runner, self._base, *args)
                    return
                except BaseException as exc:
                    if not is_backend_error(exc):
                        raise
                    if trio.current_time() > deadline:
                        logger.warning(
                            "%d jobs: could not ack (%r); they are redelivered after their lease",
                            len(batch),
                            exc,
                        )
                        return
                    await backoff.wait("ack", exc)
        finally:
            self._acks_settled(batch, statuses)
            self._ack_batch = None
            done.set()
            self._acks_waiting.set()

    def _acks_settled(self, batch: list[_Delivery], statuses: Sequence[Any] | None) -> None:
        """Forget deliveries whose acks were written (``statuses``: one per ack) or
        given up (``None``: their leases expire); warn for leases lost before the ack."""
        for i, delivery in enumerate(batch):
            self._held.pop(delivery.dkey, None)
            if statuses is not None and _int(statuses[i]) == 0:
                logger.warning(
                    "job %r in group %r: lease lost before ack (it was redelivered)",
                    delivery.job_id,
                    delivery.group.name,
                )

    async def _settle(
        self, delivery: _Delivery, outcome: str, error: str = "", *, final: bool = False
    ) -> None:
        """Nack or release a delivery, retrying through short outages.

        Gives up after one lease: by then the reaper redelivers the job anyway
        (at-least-once).
        """
        backoff = _Backoff()
        deadline = trio.current_time() + max(self._config.lease_seconds, 1.0)
        while True:
            client = self._runner
            try:
                if client is None:
                    return
                ok: Any = 1
                with trio.CancelScope(shield=True):
                    if outcome == "nack":
                        ok = await SCRIPTS["nack"](
                            client,
                            self._base,
                            delivery.dkey,
                            delivery.token,
                            error[:4000],
                            1000 * self._config.delay_multiplier,
                            "1" if final else "0",
                            self._config.failed_jobs_max,
                        )
                    else:
                        ok = await SCRIPTS["release"](
                            client, self._base, delivery.dkey, delivery.token
                        )
                if outcome != "release" and _int(ok) == 0:
                    logger.warning(
                        "job %r in group %r: lease lost before %s (it was redelivered)",
                        delivery.job_id,
                        delivery.group.name,
                        outcome,
                    )
                return
            except BaseException as exc:
                if not is_backend_error(exc):
                    raise
                if trio.current_time() > deadline:
                    logger.warning(
                        "job %r: could not %s (%r); it is redelivered after its lease",
                        delivery.job_id,
                        outcome,
                        exc,
                    )
                    return
                await backoff.wait(outcome, exc)

    async def _renewer(self) -> None:
        """Extend this process's leases every third of a lease; mark its groups seen."""
        backoff = _Backoff()
        while True:
            await trio.sleep(self._config.lease_seconds / 3)
            args: list[str | int] = [self._lease_ms, len(self._groups), *self._groups]
            for delivery in self._held.values():
                if not delivery.acking:
                    args += [delivery.dkey, delivery.token]
            try:
                runner = self._runner
                assert runner is not None
                lost = await SCRIPTS["renew"](runner, self._base, *args)
                backoff.reset()
            except BaseException as exc:
                if not is_backend_error(exc):
                    raise
                if not backoff.failing:
                    logger.warning("could not renew leases: %r", exc)
                backoff.failing = True
                continue
            for dkey in lost:
                held = self._held.get(_text(dkey))
                # an ack written meanwhile ended the lease: not lost, done
                if held is not None and not held.acking:
                    logger.warning(
                        "lease of delivery %r was lost (another process has it)", _text(dkey)
                    )

    async def _reaper(self) -> None:
        """Reclaim expired leases of dead processes; remove abandoned groups."""
        backoff = _Backoff()
        interval = min(max(self._config.lease_seconds / 4, 0.05), 5.0)
        abandon = self._config.group_abandon_seconds
        # a process that has just started may not have re-registered its groups yet
        grace = min(abandon, 60.0)
        while True:
            await trio.sleep(interval)
            running_for = trio.current_time() - self._started_at
            abandon_ms = (
                seconds_to_ms(abandon) if math.isfinite(abandon) and running_for > grace else 0
            )
            try:
                out = await self._call(
                    "reap",
                    _BATCH,
                    self._config.max_stalls,
                    self._config.failed_jobs_max,
                    abandon_ms,
                )
                backoff.reset()
            except BaseException as exc:
                if not is_backend_error(exc):
                    raise
                await backoff.wait("reaper", exc)
                continue
            if _int(out[0]) or _int(out[1]):
                logger.warning(
                    "queue %r: %d expired deliveries redelivered, %d failed as stalled",
                    self.name,
                    _int(out[0]),
                    _int(out[1]),
                )
            for group in out[2:]:
                logger.warning(
                    "queue %r: consumer group %r removed as abandoned", self.name, _text(group)
                )

    # -- timers: delays, retries, recurring ticks ---------------------------------------------

    async def _timer(self) -> None:
        backoff = _Backoff()
        while True:
            try:
                out = await self._call("promote", _BATCH)
                now_ms, next_ms, moved = _int(out[0]), _int(out[1]), _int(out[2])
                due = out[3:]
                for i in range(0, len(due), 2):
                    await self._fire(_text(due[i]), _int(due[i + 1]), now_ms)
                backoff.reset()
                if moved >= _BATCH or len(due) >= 2 * _BATCH:
                    continue
                wait = self._poll if next_ms < 0 else min(self._poll, (next_ms - now_ms) / 1000)
                if 0 < wait <= _SHORT_WAIT:
                    # the server checks blocking timeouts about every 100 ms (hz 10): a
                    # short wait is more precise on our own clock
                    await trio.sleep(wait)
                elif wait > 0:
                    assert self._blocking is not None
                    await self._blocking.blpop([f"{self._base}tw"], timeout=wait)
            except BaseException as exc:
                if not is_backend_error(exc):
                    raise
                await backoff.wait("timer", exc)

    def _cron(self, pattern: str, timezone: str | None) -> CronSchedule:
        key = (pattern, timezone)
        cron = self._crons.get(key)
        if cron is None:
            cron = self._crons[key] = CronSchedule(pattern, timezone)
        return cron

    async def _fire(self, schedule_id: str, due_ms: int, now_ms: int) -> None:
        assert self._client is not None
        raw = await self._client.hget(f"{self._base}s:{schedule_id}", "spec")
        if raw is None:
            return
        spec = json.loads(raw)
        cron_next = 0
        if spec["cron"] is not None:
            cron = self._cron(spec["cron"], spec["tz"])
            cron_next = round(cron.next_after(_utc(max(due_ms, now_ms))).timestamp() * 1000)
        occurrence = _occurrence_id(schedule_id, _utc(due_ms))
        runner = self._runner
        assert runner is not None
        out = await SCRIPTS["sched_fire"](
            runner,
            self._base,
            schedule_id,
            due_ms,
            occurrence,
            cron_next,
            self._config.max_queue_size,
        )
        if _int(out[0]) == 1 and _int(out[1]) < 0:
            logger.warning(
                "recurring job %r: occurrence %s skipped: queue %r is full",
                schedule_id,
                occurrence,
                self.name,
            )

    # -- recurring ----------------------------------------------------------------------------

    async def schedule_recurring(
        self,
        data: T,
        *,
        job_id: str,
        interval_seconds: float | None = None,
        cron_pattern: str | None = None,
        timezone: str | None = None,
        start_delay: float | None = None,
        priority: int = 0,
    ) -> str:
        """Declare a recurring job (kept in Redis until cancelled), or replace it.

        Any number of processes may declare the same job; each occurrence is
        enqueued once (its id is ``f"{job_id}:{tick time}"``), judged on the
        server's clock. Declaring it again with identical arguments (``data``
        compared as JSON; ``start_delay`` is not compared) changes nothing.

        Returns:
          ``job_id``.
        Raises:
          ValueError: unless exactly one of ``interval_seconds`` (finite, > 0) and
            ``cron_pattern`` is given, or for a bad ``start_delay`` or priority.
          InvalidScheduleError: for an invalid cron pattern or unknown timezone.
          SerializationError: the payload cannot be encoded.
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: Redis cannot be reached.
        """
        checked_id, interval, pattern, delay, checked_priority, zone = check_recurring_args(
            job_id, interval_seconds, cron_pattern, start_delay, priority, timezone
        )
        cron = CronSchedule(pattern, zone) if pattern is not None else None
        if cron is None:
            load_zone(zone)
        payload = self._encode(data)
        await self._admit(allow_stopping=True)
        canonical = json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":"))
        identity = json.dumps([canonical, checked_priority, interval, pattern, zone])
        spec = json.dumps(
            {
                "data": payload,
                "priority": checked_priority,
                "interval_seconds": interval,
                "cron": pattern,
                "tz": zone,
            }
        )
        multiplier = self._config.delay_multiplier
        offset_ms = seconds_to_ms(delay * multiplier)
        step_ms = 0
        cron_first = 0
        async with self._connection() as client:
            if cron is not None:
                # the clock of the node holding the queue (TIME could ask another node)
                server_ms = _int(await SCRIPTS["now"](client, self._base))
                first = cron.next_after(_utc(server_ms + offset_ms))
                cron_first = round(first.timestamp() * 1000)
            else:
                assert interval is not None
                step_ms = max(1, round(interval * multiplier * 1000))
            await SCRIPTS["sched_set"](
                client, self._base, checked_id, spec, identity, offset_ms, cron_first, step_ms
            )
        return checked_id

    async def cancel_recurring(self, job_id: str) -> None:
        """Stop future occurrences and drop those no group has started; unknown ids are a no-op.

        Raises:
          QueueStoppedError: after the queue stopped.
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._admit(allow_stopping=True)
        await self._call("sched_cancel", job_id)

    async def list_recurring_jobs(self) -> list[str]:
        """Ids of the active recurring jobs (in order of their next tick).

        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._wait_started()
        async with self._connection() as client:
            ids = await client.zrange(f"{self._base}snext", 0, -1)
        return [_text(i) for i in ids]

    async def get_recurring_job_details(self, job_id: str) -> RecurringJobDetails[T] | None:
        """Details of an active recurring job, ``None`` when unknown or cancelled.

        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._wait_started()
        async with self._connection() as client:
            raw = await client.hget(f"{self._base}s:{job_id}", "spec")
            score = await client.zscore(f"{self._base}snext", job_id)
        if raw is None:
            return None
        spec = json.loads(raw)
        return RecurringJobDetails(
            job_id=job_id,
            data=self._decode(spec["data"]),
            priority=spec["priority"],
            interval_seconds=spec["interval_seconds"],
            cron_pattern=spec["cron"],
            next_run_at=_utc(round(score)) if score is not None else None,
            timezone=spec["tz"],
        )

    # -- monitoring ---------------------------------------------------------------------------

    async def get_in_flight_count(self) -> int:
        """Handlers of this queue running now in this process."""
        await trio.lowlevel.checkpoint()
        return self._running

    async def get_stats(self) -> QueueStats:
        """Global counters: pending jobs, deliveries being processed by any process,
        lifetime completed/failed deliveries, groups with a live consumer.

        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._wait_started()
        out = await self._call("stats", self._lease_ms)
        return QueueStats(
            pending=_int(out[0]),
            processing=_int(out[1]),
            completed=_int(out[2]),
            failed=_int(out[3]),
            consumer_groups=_int(out[4]),
        )

    async def export_pending(self) -> list[PendingJob[T]]:
        """Move every pending job (ready, delayed or in backoff) out of Redis.

        Jobs are removed from Redis as they are returned, in priority then
        enqueue order; ``remaining_delay`` is measured on the server's clock.

        Raises:
          RuntimeError: while the queue has not stopped.
          BackendUnavailableError: Redis cannot be reached.
        """
        await trio.lowlevel.checkpoint()
        if self._state is not LifeState.STOPPED:
            msg = f"export_pending() needs a stopped queue; call stop() on {self.name!r} first"
            raise RuntimeError(msg)
        rows: list[tuple[int, int, PendingJob[T]]] = []
        async with self._connection() as client:
            while True:
                out = await SCRIPTS["export"](client, self._base, _BATCH)
                for i in range(1, len(out), 6):
                    job_id, raw, prio, ts_ms, seq, remaining = out[i : i + 6]
                    try:
                        data = self._decode(raw)
                    except SerializationError:
                        logger.exception("export: job %r dropped", _text(job_id))
                        continue
                    job = PendingJob(
                        id=_text(job_id),
                        data=data,
                        priority=_int(prio),
                        timestamp=_utc(_int(ts_ms)),
                        remaining_delay=_int(remaining) / 1000,
                    )
                    rows.append((-job.priority, _int(seq), job))
                if len(out) <= 1:
                    break
        rows.sort(key=lambda row: (row[0], row[1]))
        return [row[2] for row in rows]

    # -- failed-jobs record -------------------------------------------------------------------

    async def get_failed_jobs(self, limit: int = 100) -> list[FailedJob]:
        """The most recent failed deliveries (newest first), at most ``limit``.

        The record keeps the last ``failed_jobs_max`` failures of the queue, one
        entry per job and group.

        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._wait_started()
        async with self._connection() as client:
            keys = await client.zrange(f"{self._base}failedx", 0, max(limit, 1) - 1, rev=True)
            if not keys:
                return []
            values = await client.hmget(f"{self._base}failed", [_text(k) for k in keys])
        result: list[FailedJob] = []
        for value in values:
            if value is None:
                continue
            rec = json.loads(_text(value))
            try:
                data: Any = self._decode(rec["data"])
            except SerializationError:
                data = rec["data"]
            result.append(
                FailedJob(
                    id=rec["id"],
                    group=rec["group"],
                    data=data,
                    priority=int(rec["priority"]),
                    timestamp=_utc(int(rec["ts"])),
                    attempts=int(rec["attempts"]),
                    error=rec["error"],
                    failed_at=_utc(int(rec["failed_at"])),
                )
            )
        return result

    async def retry_failed_job(self, job_id: str, consumer_group: str) -> bool:
        """Give a failed delivery a fresh start (attempts 0) in its group.

        Returns:
          True when it was requeued; False when no such failed entry exists (or the
          job is already back in that group).
        Raises:
          ValueError: the group no longer exists.
          BackendUnavailableError: Redis cannot be reached.
        """
        check_job_id(job_id, required=True)
        await self._wait_started()
        out = _int(await self._call("failed_retry", _dkey(consumer_group, job_id)))
        if out < 0:
            msg = f"consumer group {consumer_group!r} no longer exists"
            raise ValueError(msg)
        return out == 1

    async def drop_failed_jobs(self, entries: Sequence[tuple[str, str]] | None = None) -> int:
        """Remove entries ``(job_id, consumer_group)`` from the failed-jobs record (all if None).

        Returns:
          How many entries were removed.
        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        await self._wait_started()
        if entries is None:
            return _int(await self._call("failed_drop"))
        keys = [_dkey(group, job_id) for job_id, group in entries]
        if not keys:
            return 0
        return _int(await self._call("failed_drop", *keys))


@final
class RedisQueuePlugin:
    """The Redis backend as a plugin (id ``"redis"``)."""

    id: str = "redis"
    display_name: str = "Redis"
    description: str | None = (
        "Durable queue shared by many processes through a Redis server: leases, "
        "crash recovery, consumer groups across processes"
    )
    config_version: int = 1
    config_type: type[RedisQueueConfig] = RedisQueueConfig
    migrations: Sequence[Migration] = ()

    def create_queue(self, name: str, config: RedisQueueConfig) -> RedisQueue[Any]:
        """A new, unstarted Redis queue."""
        return RedisQueue(name, config)
