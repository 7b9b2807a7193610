"""The seam between the runtime and a backend: the storage protocol and the values it exchanges.

One runtime, the actor tree in ``_actors/``, runs every backend. A backend is a
*storage*: where jobs, groups, leases and schedules are kept, behind the small,
batch-shaped protocol below. The runtime decides (with ``_state/policy.py``);
the storage stores and answers. Nothing here runs a task of its own.

Two kinds of storage:

- ``Storage``: every method may do I/O (the Redis storage sends Lua scripts). The
  runtime overlaps claims (``claim_depth``), carries settled outcomes on the next
  claim, and renews leases when ``lease_seconds`` is set.
- ``InProcessStorage``: the state lives in this process (the in-memory engine). It
  also offers synchronous ``*_nowait`` methods, which the runtime calls on its hot
  paths instead of awaiting, so an enqueue or a claim costs a function call.

How the runtime uses a storage, for one job (see ``docs/explanation/architecture.md``):
``enqueue`` stores it; a group's router waits in ``wait_for_work``, claims up to
its free slots with ``send_claim``/``receive_claim``; a worker runs the handler
and settles the outcome (``settle``, or riding on the next claim); the scheduler
calls ``advance`` (delays, backoff, recurring ticks) and waits in
``wait_for_timers``, and on a storage with leases, ``renew`` and ``reap``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol, final

from ._model import NO_HEADERS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._model import (
        FailedJob,
        JobInfo,
        JobState,
        PendingJob,
        QueueJob,
        QueueStats,
        RecurringJobDetails,
    )
    from ._state.cron import CronSchedule

__all__ = [
    "CancelReport",
    "ClaimTicket",
    "Delivery",
    "HeartbeatReport",
    "InProcessStorage",
    "NewJob",
    "Outcome",
    "PauseState",
    "ReapReport",
    "ScheduleSpec",
    "Settle",
    "Storage",
    "WaitClaimStorage",
]


class Settle(enum.IntEnum):
    """How a delivery ended, as the runtime tells the storage."""

    ACK = 0
    """The handler returned: the group is done with the job."""
    RETRY = 1
    """The handler failed and the group retries: ``detail`` is ``(delay, error)``; the
    job waits ``delay`` seconds (a float, backoff already scaled) and comes back with
    one more attempt; ``error`` (``"ExcType: message"``) is kept as the group's last
    error of the job until the group is done with it (``JobGroupState.last_error``)."""
    FAIL = 2
    """The handler failed for good (retries exhausted, or the job could not be
    decoded): the group is done with the job, and counts a failure; ``detail`` is the
    error text (``"ExcType: message"``)."""
    RELEASE = 3
    """The delivery was given back unrun or interrupted (stop, a hard cancel): the job
    is ready again at once for that group, attempts unchanged, not a failure."""
    CANCEL = 4
    """The delivery was cancelled by ``cancel_job``: the group is done with the job,
    counting neither a completion nor a failure. A storage whose ``cancel_job`` ended
    the delivery itself (it reported it in ``CancelReport.ended``) ignores it."""


class Delivery:
    """One job claimed for one group: the runtime runs it and settles it.

    A storage subclasses it to carry its own handle (the in-memory engine's record,
    the Redis delivery key and lease token) and sets the fields below; the runtime
    reads only these. ``error``, ``max_retries``, ``suspect`` and ``timeout`` may be class
    attributes or properties of a subclass (they are read only when a delivery fails or cannot be
    decoded); ``consumer`` is set by the group's router.
    """

    __slots__ = ("consumer", "group", "job")

    error: str | None = None
    """Why the stored job could not be decoded (``job`` is then ``None``)."""
    timeout: float | None = None
    """Seconds the job's own timeout lets one delivery run (``None``: the group's, if
    any, applies). A storage sets it only for a job enqueued with one."""
    max_retries: int = 0
    """The group's ``max_retries`` as the storage knew it at claim time."""
    suspect: bool = False
    """It was lost with dying processes that held other deliveries too, often enough
    that it may be what kills them: the runtime runs a suspect alone in its process
    (no other handler of the queue runs meanwhile), so that its next loss, if any,
    is blamed on it alone."""

    if TYPE_CHECKING:
        group: str
        """The group it was claimed for."""
        job: QueueJob[Any] | None
        """What the handler receives (``attempts`` are this group's); ``None`` when the
        stored job could not be decoded, with ``error`` saying why."""
        consumer: Any
        """The consumer it goes to (set by the group's router, round-robin)."""


Outcome = tuple[Delivery, Settle, Any]
"""``(delivery, how, detail)``: ``detail`` is ``(delay_seconds, error_text)`` for
``RETRY``, the error text for ``FAIL``, ``None`` otherwise."""


@final
class NewJob:
    """A job to store, its arguments already checked and its delay already scaled."""

    __slots__ = ("data", "delay", "groups", "headers", "id", "priority", "skipped", "timeout")

    def __init__(
        self,
        id: str,  # the job's id
        data: Any,
        priority: int,
        delay: float,
        groups: tuple[str, ...] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> None:
        self.id = id
        self.data = data
        self.priority = priority
        self.delay = delay
        """Seconds until available (``start_delay`` times ``delay_multiplier``), 0 for now."""
        self.groups = groups
        """The groups to store it for (a non-empty tuple), or ``None`` for every group.
        Only ``enqueue`` receives a tuple, when a job moves between backends."""
        self.timeout = timeout
        """Seconds one delivery may run (``None``: none of its own); stored with the job,
        returned on each of its deliveries (``Delivery.timeout``) and by ``export_pending``."""
        self.headers = headers
        """The job's headers (checked, read-only); stored with the job, returned in every
        ``QueueJob`` of it and by ``export_pending``."""
        self.skipped = False
        """Set by ``enqueue_many`` on a job it did not store (its id already in the
        queue, or earlier in the same call): instruments are told of the others only."""


@final
class ScheduleSpec:
    """A recurring job to declare (checked arguments; durations already scaled)."""

    __slots__ = ("cron", "data", "first_delay", "interval_seconds", "job_id", "priority", "step")

    def __init__(
        self,
        *,
        job_id: str,
        data: Any,
        priority: int,
        interval_seconds: float | None,
        cron: CronSchedule | None,
        first_delay: float,
        step: float,
    ) -> None:
        self.job_id = job_id
        self.data = data
        self.priority = priority
        self.interval_seconds = interval_seconds
        """As declared (``None`` for cron); compared on re-declaration and reported."""
        self.cron = cron
        """The parsed cron pattern with its timezone (``None`` for an interval)."""
        self.first_delay = first_delay
        """Seconds from now to the first interval tick, or to the point after which the
        first cron time is looked for (``start_delay`` times ``delay_multiplier``)."""
        self.step = step
        """Seconds between interval ticks (``interval_seconds`` times ``delay_multiplier``;
        0 for cron)."""


@final
class ClaimTicket:
    """A claim sent with ``Storage.send_claim`` whose reply is not read yet."""

    __slots__ = ("group", "lost", "n", "outcomes", "paused", "state")

    def __init__(self, group: str, n: int, outcomes: Sequence[Outcome], state: Any) -> None:
        self.group = group
        self.n = n
        """How many deliveries were asked for."""
        self.outcomes = outcomes
        """The outcomes that rode on the claim (written before it claims)."""
        self.state = state
        """The storage's own (the in-memory storage keeps the claimed deliveries here)."""
        self.lost: Sequence[Delivery] = ()
        """Set by ``receive_claim``: deliveries among ``outcomes`` whose lease was lost
        before their outcome was written (another holder has them now)."""
        self.paused = False
        """Set by ``receive_claim`` when the storage claimed nothing because the group (or
        the queue) is paused: the router then waits for a resume."""


@final
class PauseState:
    """Which parts of a queue are paused (``Storage.pause_state``)."""

    __slots__ = ("groups", "queue")

    def __init__(self, queue: bool = False, groups: frozenset[str] = frozenset()) -> None:
        self.queue = queue
        """The whole queue is paused (every group, including groups that join later)."""
        self.groups = groups
        """Groups paused on their own."""

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PauseState)
            and self.queue == other.queue
            and self.groups == other.groups
        )

    def __hash__(self) -> int:
        return hash((self.queue, self.groups))

    def __repr__(self) -> str:
        return f"PauseState(queue={self.queue!r}, groups={sorted(self.groups)!r})"

    def is_paused(self, group: str | None) -> bool:
        """True when ``group`` starts no delivery (``None``: when the whole queue is paused)."""
        return self.queue or (group is not None and group in self.groups)


@final
class CancelReport:
    """What ``Storage.cancel_job`` did."""

    __slots__ = ("ended", "removed", "running")

    def __init__(self, removed: int = 0, running: Sequence[str] = (), ended: bool = False) -> None:
        self.removed = removed
        """Groups in which the job was waiting, delayed or retrying, and no longer is."""
        self.running = running
        """Groups in which a delivery of the job is running (in any process)."""
        self.ended = ended
        """True when the storage ended those running deliveries itself (the job is done
        for those groups, and their holders learn it from ``heartbeat``); False when
        the runtime ends them by settling ``CANCEL`` (an in-process storage)."""

    @property
    def cancelled(self) -> bool:
        """True when anything was cancelled."""
        return bool(self.removed or self.running)


@final
class HeartbeatReport:
    """What ``Storage.heartbeat`` learned from the backend for the runtime."""

    __slots__ = ("advance", "cancelled", "paused")

    def __init__(
        self,
        paused: PauseState | None = None,
        cancelled: Sequence[tuple[str, str]] = (),
        *,
        advance: bool = True,
    ) -> None:
        self.paused = paused
        """The queue's pause state as stored (``None``: not read this time)."""
        self.cancelled = cancelled
        """``(group, job_id)`` of deliveries held by this process that ``cancel_job``
        (called in any process) ended: their handlers are to be cancelled."""
        self.advance = advance
        """Whether the scheduler advances the timers right after this heartbeat (it may
        have moved one). A storage whose heartbeat never moves a timer says ``False``:
        its timers are advanced when due, when woken, and every poll interval."""


@final
class ReapReport:
    """What ``Storage.reap`` did: expired leases of lost workers taken back."""

    __slots__ = ("abandoned_groups", "failed", "more", "redelivered")

    def __init__(
        self,
        redelivered: int = 0,
        failed: int = 0,
        abandoned_groups: Sequence[str] = (),
        *,
        more: bool = False,
    ) -> None:
        self.redelivered = redelivered
        """Deliveries whose lease expired, made ready again."""
        self.failed = failed
        """Deliveries whose lease expired too often, failed as stalled."""
        self.abandoned_groups = abandoned_groups
        """Groups removed because no consumer was seen for too long."""
        self.more = more
        """Work of this kind is left that one call did not finish (a storage bounds
        each call): the runtime calls ``reap`` again at once, not ``reap_seconds``
        later."""


class Storage(Protocol):
    """Where one queue's state lives; every method may do I/O.

    Errors: a storage raises ``BackendUnavailableError`` when it cannot reach its
    backend and ``BackendRefusedError`` when the backend refuses the operation
    (the runtime retries background work with backoff after either; ``open``
    raises the latter when the backend refuses the queue), ``QueueFullError``
    from the enqueue methods, ``SerializationError`` for a payload it cannot store,
    and ``ValueError`` for a request it refuses. Nothing else on purpose.

    Cancellation: a method whose request may have reached the backend completes or
    leaves the backend as if it never ran (one Lua script is atomic), and never
    leaves a connection half-written.
    """

    claim_depth: int
    """Claims a router may keep on the way at once (1: send, then receive)."""
    lease_seconds: float | None
    """A claimed delivery is taken back after this long without ``renew`` (None: the
    storage has no leases, its deliveries live as long as the process)."""
    reap_seconds: float | None
    """How often ``reap`` runs (None: never)."""
    heartbeat_seconds: float | None
    """How often ``heartbeat`` runs (None: never)."""
    work_poll_seconds: float
    """The longest a router waits in ``wait_for_work`` before claiming again anyway,
    and the scheduler before advancing the timers again anyway (``math.inf``: only a
    wake-up or a due timer ends the wait)."""

    async def open(self) -> None:
        """Connect and prepare; called once, when the queue starts.

        Raises:
          BackendUnavailableError: the backend cannot be reached.
        """
        ...

    async def close(self) -> None:
        """Release connections; called once, after every outcome was written.

        Called from the runtime's ``finally``, outside any shielding scope (so that it
        may exit context managers entered by ``open``): it shields what must complete,
        and does not raise ``Cancelled`` when nothing is left to do.
        """
        ...

    async def test_connection(self) -> None:
        """Probe the backend with a connection of its own, whether or not it is open.

        Raises:
          BackendUnavailableError: naming the address and the cause.
        """
        ...

    # -- producing --------------------------------------------------------------------------

    def encode(self, data: Any) -> Any:
        """The payload as this storage keeps it (called before anything is stored).

        Raises:
          SerializationError: the storage cannot keep it (nothing is stored).
        """
        ...

    async def enqueue(self, job: NewJob) -> bool:
        """Store one job for every group that exists (or for the first group to come).

        With ``job.groups``, store it for those groups only (a job moved from another
        backend, which some groups had already finished). A listed group that does not
        exist yet gets the job when it is registered (a storage whose groups outlive
        their consumers, like Redis, may create it at once); the other groups never do.

        Returns:
          False when a job with this id is still in the queue (nothing changes).
        Raises:
          QueueFullError: ``max_queue_size`` jobs are pending; nothing is stored.
        """
        ...

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> int:
        """Store several jobs, all or nothing: nothing unless every new one fits.

        Ids already in the queue, or repeated in ``jobs``, are skipped: each job
        skipped is marked (``job.skipped = True``).

        Returns:
          How many were stored.
        Raises:
          QueueFullError: they do not all fit; nothing is stored.
        """
        ...

    # -- consuming ----------------------------------------------------------------------------

    async def register_group(self, group: str, max_retries: int) -> None:
        """Create (or refresh) a group; the first group ever takes the jobs enqueued before."""
        ...

    async def send_claim(self, group: str, n: int, outcomes: Sequence[Outcome]) -> ClaimTicket:
        """Write ``outcomes``, then claim up to ``n`` of ``group``'s ready jobs, best first.

        Sends the request and returns without waiting for the reply (read it with
        ``receive_claim``, tickets in the order they were sent); a storage may answer
        at once. A claimed delivery is running from then on (counted in ``processing``,
        held under a lease when the storage has leases) until it is settled.
        """
        ...

    async def receive_claim(self, ticket: ClaimTicket) -> list[Delivery]:
        """The deliveries of a claim, in delivery order (possibly none).

        Raises:
          BackendUnavailableError: the claim's fate is unknown; its outcomes are not
            known to be written (the runtime settles them again: settling twice is
            harmless) and its deliveries come back when their leases expire.
        """
        ...

    async def settle(self, outcomes: Sequence[Outcome]) -> list[Delivery]:
        """Write how deliveries ended (see ``Settle``). Settling one twice does nothing.

        Returns:
          The deliveries whose lease was lost before their outcome was written (another
          holder has them now; their outcome was not applied).
        """
        ...

    async def wait_for_work(self, group: str, wait_seconds: float) -> None:
        """Return when ``group`` may have ready work, or after ``wait_seconds``.

        Cancellation: safe at any point (a wake-up lost to it is found by the next claim).
        """
        ...

    # -- time ---------------------------------------------------------------------------------

    async def advance(self) -> float:
        """Make due delayed jobs and retries ready; fire due recurring ticks.

        Returns:
          Seconds until the next timer is due (``math.inf`` when none).
        """
        ...

    async def wait_for_timers(self, wait_seconds: float) -> None:
        """Return when a timer earlier than the last ``advance`` reported may exist, or
        after ``wait_seconds``."""
        ...

    async def heartbeat(self) -> HeartbeatReport | None:
        """Periodic upkeep (every ``heartbeat_seconds``, also while the queue stops):
        re-anchoring a clock, or telling other processes this one is alive (and taking
        back the deliveries of those that stopped telling it). The scheduler advances
        the timers right after it, unless the report says ``advance=False``.

        Returns:
          What other processes changed that this one must obey (a storage shared by
          several processes: the pause state, deliveries cancelled), or ``None``.
        """
        ...

    async def renew(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Extend the leases of ``deliveries`` (every third of ``lease_seconds``, even with
        none held: a shared storage also marks this process's groups as alive then).

        Returns:
          Those whose lease this process no longer holds.
        """
        ...

    async def reap(self) -> ReapReport:
        """Take back deliveries whose lease expired (their holder died or hung)."""
        ...

    # -- recurring ----------------------------------------------------------------------------

    async def schedule(self, spec: ScheduleSpec) -> bool:
        """Declare a recurring job, or replace the one with its id.

        Returns:
          False when an identical one exists (nothing changes). A replacement drops the
          old schedule's occurrences that no group has started.
        """
        ...

    async def cancel_schedule(self, job_id: str) -> bool:
        """Cancel a recurring job and drop its occurrences no group has started.

        Returns:
          False when unknown.
        """
        ...

    async def schedule_ids(self) -> list[str]:
        """Ids of the active recurring jobs."""
        ...

    async def schedule_details(self, job_id: str) -> RecurringJobDetails[Any] | None:
        """Details of an active recurring job (``None`` when unknown)."""
        ...

    # -- reading ------------------------------------------------------------------------------

    async def stats(self) -> QueueStats:
        """The queue's counters (``processing``: deliveries claimed and not settled)."""
        ...

    async def export_pending(self) -> list[PendingJob[Any]]:
        """Take every pending job out (the queue has stopped), in delivery order.

        Each job's ``groups`` names the groups that still owe it, or is ``None`` when
        every group of the queue does (or the queue has none); its ``timeout`` and
        ``headers`` are those it was enqueued with.
        """
        ...

    # -- the failed-jobs record ---------------------------------------------------------------
    #
    # Every ``FAIL`` outcome (and a lease reaped too often) is recorded by the storage,
    # following the rules of ``_state/failed.py``: one entry per job and group, the
    # newest ones kept up to the storage's bound. These calls may run before the queue
    # starts and after it stops.

    async def failed_jobs(self, group: str | None, limit: int) -> list[FailedJob[Any]]:
        """The newest ``limit`` (>= 0) entries, newest first; of ``group`` only unless None."""
        ...

    async def retry_failed(self, job_id: str, group: str) -> int:
        """Take the entry of ``job_id`` in ``group`` out and make the job ready again for
        that group alone, with attempts from 0.

        Returns:
          ``failed.RETRY_DONE``; ``RETRY_NO_ENTRY`` when there is no such entry (or the
          job is already back in that group); ``RETRY_NO_GROUP`` when the group does not
          exist (the entry stays).
        """
        ...

    async def drop_failed(
        self, group: str | None, entries: Sequence[tuple[str, str]] | None
    ) -> int:
        """Remove the ``(job_id, group)`` ``entries``, or else every entry of ``group``
        (every entry when it is None too).

        Returns:
          How many entries were removed.
        """
        ...

    # -- job control ------------------------------------------------------------------------
    #
    # Like the failed-jobs record, these may run before the queue starts and after it stops.

    async def set_paused(self, group: str | None, paused: bool) -> None:
        """Pause or resume ``group``, or the whole queue (``None``).

        A paused group (every group while the queue is paused) is claimed from no
        more: ``send_claim`` claims nothing for it, and a storage shared by several
        processes says so in ``ClaimTicket.paused``. Resuming the whole queue
        (``group=None``, ``paused=False``) also resumes every group paused on its own.
        The state outlives the queue's processes on a durable storage.
        """
        ...

    async def pause_state(self) -> PauseState:
        """The stored pause state."""
        ...

    async def job_info(self, job_id: str) -> JobInfo[Any] | None:
        """Where the job stands in each group that owes it, or failed it (the failed
        ones from the failed-jobs record); ``None`` when neither."""
        ...

    async def list_jobs(
        self, state: JobState | None, group: str | None, limit: int
    ) -> list[JobInfo[Any]]:
        """At most ``limit`` (1..10,000) jobs with at least one group (``group`` only,
        unless None) in ``state``; ``None``: any state but ``"failed"``.

        Order: for one state, ``"waiting"`` in delivery order (best priority, then
        available time, then enqueue order, merged over the groups), ``"running"`` in
        no fixed order, ``"retrying"`` and ``"delayed"`` by the time they become
        available, ``"failed"`` newest failure first. For ``None``: running, then
        waiting, retrying and delayed jobs in those orders; a job appears once, at its
        first place. The cost is proportional to ``limit`` (plus the groups' number),
        not to the size of the queue, for every state but ``"running"`` and
        ``"retrying"`` with a ``group`` (which may read past other groups' entries).
        """
        ...

    async def cancel_job(self, job_id: str) -> CancelReport:
        """Remove the job from every group in which it waits (ready, delayed, retrying),
        and report where a delivery of it runs (see ``CancelReport``)."""
        ...


class WaitClaimStorage(Storage, Protocol):
    """A storage that can wait for work with a claim riding behind the wait.

    Optional: the runtime uses it while ``wait_claims`` is true (a storage without the
    attribute waits with ``wait_for_work``, then claims). A router with nothing to do
    then sends one request that waits and claims, on a slot it lends itself while no
    other group of the process wants one (``interrupt_wait`` gives it back when one
    does), so work that arrives reaches a handler one round trip after its enqueue.
    A storage that takes ``send_claim``/``receive_claim`` from another (say, one that
    delegates to ``MemoryStorage`` while it is being written) must take these too, or
    set ``wait_claims = False``.
    """

    wait_claims: bool
    """Whether ``send_wait_claim`` works now (read once ``open`` has returned)."""

    async def send_wait_claim(self, group: str, n: int, wait_seconds: float) -> ClaimTicket:
        """``wait_for_work`` and ``send_claim`` (without outcomes) in one request: the
        claim runs as soon as the wait ends, and its reply is read with
        ``receive_claim`` as any other's, so work that arrives while a group is idle
        reaches a handler one round trip after the enqueue instead of two.

        The wait ends when ``group`` may have ready work, after ``wait_seconds``, or at
        ``interrupt_wait``; ``receive_claim`` is not cancelled by the caller's
        cancellation while it waits: interrupt the wait first. Only while
        ``wait_claims`` is true; no other claim of the group may be on the way.
        """
        ...

    async def interrupt_wait(self, ticket: ClaimTicket) -> None:
        """End the wait of a ticket from ``send_wait_claim`` now (its claim then runs,
        and may still find a job). Never raises a backend error: when the wait cannot
        be ended, the claim's connection is given up, and ``receive_claim`` raises
        ``BackendUnavailableError`` at once. Idempotent; harmless once answered."""
        ...


class InProcessStorage(Storage, Protocol):
    """A storage whose state lives in this process: every method completes without
    yielding, and the hot ones have synchronous forms the runtime calls directly.

    It keeps payloads as the Python objects given: the runtime never calls ``encode``.
    It may also have an ``ack_nowait(delivery)``, ``settle_nowait(delivery, Settle.ACK,
    None)`` in one call, which the runtime then calls for every success.
    """

    def enqueue_nowait(
        self,
        job_id: str,
        data: Any,
        priority: int,
        delay: float,
        timeout: float | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> bool:
        """``enqueue`` of ``NewJob(job_id, data, priority, delay, None, timeout, headers)``,
        synchronously."""
        ...

    def queued_job(self, job_id: str) -> QueueJob[Any] | None:
        """The ``QueueJob`` (attempts 0) of a job stored just now, for the instruments'
        ``job_enqueued``; ``None`` when it is no longer in the queue. The storage may
        keep it for the job's first deliveries."""
        ...

    def claim_nowait(self, group: str, n: int) -> list[Delivery]:
        """Claim up to ``n`` deliveries of ``group`` synchronously (no outcomes ride)."""
        ...

    def claim_one_nowait(self, group: str) -> Delivery | None:
        """Claim ``group``'s best ready job synchronously, if any (a worker chaining jobs)."""
        ...

    def settle_nowait(self, delivery: Delivery, how: Settle, detail: Any) -> None:
        """``settle`` one outcome, synchronously."""
        ...
