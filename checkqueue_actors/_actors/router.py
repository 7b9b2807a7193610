"""GroupRouterActor: claims one group's ready jobs from the storage and hands them out.

Accepts: wake-ups from the storage (``Storage.wait_for_work`` returns: the group
may have ready work), free slots (``Slots``), claim replies.
Emits: deliveries to the queue's run queue, each assigned to the group's next
consumer in round-robin order; the outcomes waiting to be written ride on its
claims.

For each claim it first takes concurrency slots, then lets the storage choose the
jobs, so a job that became ready meanwhile (an urgent one, a retry whose backoff
ended) is not beaten by a worse one chosen earlier. A claim asks for as many jobs
as it holds slots; slots it did not use are given back at once.

With a storage that does I/O, up to ``claim_depth`` claims are on the way at
once, each for half the slots while another is on the way: the backend runs one
while this process runs the handlers of the other. A second task reads the
replies in the order the claims were sent, so handlers start in claim order.
A group with nothing to do waits for work with a claim riding behind the wait
(``WaitClaimStorage.send_wait_claim``) on a slot it lends itself while no other group
wants one, so a job enqueued then reaches a handler one round trip later; with
no slot to lend, it waits, then claims.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any, cast

import trio

from .._errors import BackendRefusedError, BackendUnavailableError
from .._state.policy import RoundRobin
from .backoff import Backoff
from .writer import report_lost

if TYPE_CHECKING:
    from .._protocols import Handler
    from .._storage import ClaimTicket, WaitClaimStorage
    from .queue import RuntimeQueue

__all__ = ["Consumer", "GroupRouterActor"]

logger = logging.getLogger("checkqueue_actors")


class Consumer:
    """One ``consume`` call: a handler taking its turn in its group's rotation."""

    __slots__ = ("handler", "timeout")

    def __init__(self, handler: Handler[Any], timeout: float | None = None) -> None:
        self.handler = handler
        self.timeout = timeout
        """Its group's delivery timeout in seconds (``None``: none); a job's own wins."""


class GroupRouterActor:
    """The dispatcher of one consumer group in this process."""

    def __init__(
        self,
        runtime: RuntimeQueue[Any],
        group: str,
        max_retries: int,
        timeout: float | None = None,
    ) -> None:
        self._rt = runtime
        self.group = group
        self.max_retries = max_retries
        self.timeout = timeout
        """The group's delivery timeout (``consume(timeout=...)``), ``None`` for none."""
        self.consumers: RoundRobin[Consumer] = RoundRobin()
        self.only: Consumer | None = None
        """The group's consumer while it has exactly one (no rotation to follow)."""
        self.waiting_for_slot = False
        """True while this router waits in line for a slot (read by chaining workers)."""
        self._inflight: deque[ClaimTicket] = deque()
        self._changed = trio.Event()
        self._drained = False
        self._probing = False
        """Woken from an idle wait: one claim is on the way to see whether work came, and
        no second one is sent before its reply (it would most often come back empty)."""
        self._error: BaseException | None = None
        self._waiting: tuple[ClaimTicket, trio.Event] | None = None
        """The wait claim on the way (see ``_wait_claim``) and its slot's recall event."""
        self._backoff = Backoff(f"group {group!r}: claiming", runtime.health)

    def add_consumer(self, handler: Handler[Any]) -> None:
        """A consumer joins the group's rotation."""
        self.consumers.add(Consumer(handler, self.timeout))
        self.only = self.consumers.members[0] if len(self.consumers) == 1 else None

    def assign(self, deliveries: list[Any]) -> None:
        """Give each delivery to the group's next consumer in turn."""
        only = self.only
        if only is not None:
            for delivery in deliveries:
                delivery.consumer = only
        else:
            consumers = self.consumers
            for delivery in deliveries:
                delivery.consumer = consumers.next()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Claim and hand out until cancelled (cancellation is how the queue stops it)."""
        if self._rt.local is not None:
            task_status.started()
            await self._run_in_process()
        else:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._collect)
                task_status.started()
                await self._run_io()

    # -- in-process storages: claims are function calls ------------------------------------

    async def _run_in_process(self) -> None:
        rt = self._rt
        local = rt.local
        assert local is not None
        slots, group, storage, gate = rt.slots, self.group, rt.storage, rt.pause_gate
        while True:
            if rt.stopping:
                # stop() cancels this task at its next checkpoint; claiming meanwhile would
                # hand out jobs that are given back at once, over and over
                await trio.sleep_forever()
            if gate.any and gate.paused(group):
                await gate.wait_resumed(group)
                continue
            if not slots.take_one_nowait():
                self.waiting_for_slot = True
                try:
                    await slots.take(1)
                finally:
                    self.waiting_for_slot = False
            # one job per slot, as it comes: claims cost a function call here, and workers
            # chain the next jobs themselves
            delivery = local.claim_one_nowait(group)
            if delivery is None:
                # the group has no ready job left: give the slot back and sleep
                slots.give(1)
                await storage.wait_for_work(group, math.inf)
                continue
            only = self.only
            delivery.consumer = only if only is not None else self.consumers.next()
            rt.dispatch_one(delivery)

    # -- storages that do I/O: pipelined claims carrying outcomes ----------------------------

    async def _run_io(self) -> None:
        rt = self._rt
        storage, slots, writer, group = rt.storage, rt.slots, rt.writer, self.group
        gate = rt.pause_gate
        assert writer is not None
        depth = max(1, storage.claim_depth)
        concurrency = slots.total
        half = (concurrency + 1) // 2 if depth > 1 else concurrency
        backoff = self._backoff
        waiting_storage: WaitClaimStorage | None = (
            cast("WaitClaimStorage", storage) if getattr(storage, "wait_claims", False) else None
        )
        writer.carrier_awake()
        try:
            while True:
                if self._error is not None:
                    exc, self._error = self._error, None
                    writer.carrier_asleep()
                    try:
                        await backoff.wait(exc)
                    finally:
                        writer.carrier_awake()
                    continue
                inflight = len(self._inflight)
                if inflight >= depth or (inflight and (self._drained or self._probing)):
                    await self._wait_changed()
                    continue
                if gate.any and gate.paused(group):
                    if inflight:
                        await self._wait_changed()
                        continue
                    # paused: nothing to claim until a resume (the outcomes still to write
                    # are written by the writer meanwhile)
                    writer.carrier_asleep()
                    try:
                        await gate.wait_resumed(group)
                    finally:
                        writer.carrier_awake()
                    self._drained = False
                    continue
                if self._drained and not writer.pending:
                    if waiting_storage is not None:
                        recall = trio.Event()
                        if slots.lend_nowait(recall):
                            await self._wait_claim(waiting_storage, recall)
                            continue
                    writer.carrier_asleep()
                    try:
                        await storage.wait_for_work(group, storage.work_poll_seconds)
                    except (BackendUnavailableError, BackendRefusedError) as exc:
                        self._error = exc
                        continue
                    finally:
                        writer.carrier_awake()
                    self._drained = False
                    self._probing = True
                    continue
                n = slots.take_nowait(half)
                if not n:
                    if inflight:
                        await self._wait_changed(slots_for_claim=half)
                        continue
                    self.waiting_for_slot = True
                    try:
                        n = await slots.take(half)
                    finally:
                        self.waiting_for_slot = False
                    if n < half:
                        # granted at the first slot given back; the handlers that ended
                        # since have given back more: claim for those too
                        n += slots.take_nowait(half - n)
                if inflight and n < half and not self._drained:
                    # too few slots to be worth a second claim now: wait for the first
                    # claim's reply, or for enough slots
                    slots.give(n)
                    await self._wait_changed(slots_for_claim=half)
                    continue
                outcomes = writer.take()
                try:
                    ticket = await storage.send_claim(group, n, outcomes)
                except (BackendUnavailableError, BackendRefusedError) as exc:
                    slots.give(n)
                    writer.put_back(outcomes)
                    self._error = exc
                    continue
                self._inflight.append(ticket)
                self._poke()
        finally:
            writer.carrier_asleep()

    async def _wait_claim(self, storage: WaitClaimStorage, recall: trio.Event) -> None:
        """Wait for work with a claim riding behind the wait, on one lent slot, until its
        reply is read: work that comes is claimed one round trip after its enqueue.

        The slot is lent (``Slots.lend_nowait``): when anybody else wants a slot, the
        wait is interrupted, and the slot comes back unless the claim found a job.
        """
        rt = self._rt
        slots, writer = rt.slots, rt.writer
        assert writer is not None
        writer.carrier_asleep()  # no outcome rides on this claim: the writer writes them
        try:
            try:
                ticket = await storage.send_wait_claim(self.group, 1, storage.work_poll_seconds)
            except BaseException as exc:
                # nothing was sent (or its fate is unknown and the line is given up)
                slots.unlend(recall)
                slots.give(1)
                if isinstance(exc, BackendUnavailableError | BackendRefusedError):
                    self._error = exc
                    return
                raise
            self._waiting = (ticket, recall)
            self._inflight.append(ticket)
            self._drained = False
            self._probing = True
            self._poke()  # the collector reads the reply
            # from now on the reply's poke sets `recall` too (the collector makes a new
            # `_changed` only while no claim is on the way)
            self._changed = recall
            interrupted = False
            try:
                while self._still_waiting():
                    await self._changed.wait()
                    if not self._still_waiting():
                        break
                    # recalled: somebody wants the slot; the claim runs now and its reply
                    # comes soon
                    if not interrupted:
                        interrupted = True
                        self._changed = trio.Event()
                        await storage.interrupt_wait(ticket)
            finally:
                if self._still_waiting() and not interrupted:
                    # cancelled (the queue stops): end the wait, so that the collector,
                    # which reads every reply before it stops, gets this one at once
                    with trio.CancelScope(shield=True):
                        await storage.interrupt_wait(ticket)
        finally:
            writer.carrier_awake()

    def _poke(self) -> None:
        self._changed.set()

    async def _wait_changed(self, *, slots_for_claim: int = 0) -> None:
        """Wait for a claim's reply (or a new claim to read); with ``slots_for_claim``,
        also until that many slots are free (a second claim is then worth sending)."""
        self._changed = changed = trio.Event()
        if slots_for_claim:
            self._rt.slots.notify_when_free(slots_for_claim, changed)
        await changed.wait()

    async def _collect(self) -> None:
        """Read the claims' replies in order and hand their deliveries out."""
        try:
            while True:
                if not self._inflight:
                    await self._wait_changed()
                    continue
                await self._receive_one()
        finally:
            # claims sent before the stop are answered still: their deliveries are then
            # given back at once instead of waiting for their leases to expire
            with trio.CancelScope(shield=True):
                while self._inflight:
                    await self._receive_one()

    def _still_waiting(self) -> bool:
        """The wait claim's reply is not read yet (``_receive_one`` ends the wait)."""
        return self._waiting is not None

    def _end_wait(self) -> None:
        """The wait claim's reply is in (or lost): its slot is no longer lent."""
        if self._waiting is not None:
            self._rt.slots.unlend(self._waiting[1])
            self._waiting = None

    async def _receive_one(self) -> None:
        rt = self._rt
        ticket = self._inflight[0]
        writer = rt.writer
        assert writer is not None
        try:
            deliveries = await rt.storage.receive_claim(ticket)
        except (BackendUnavailableError, BackendRefusedError) as exc:
            # the fate of every claim on the way is unknown: their jobs come back when
            # their leases expire; their outcomes are written again
            while self._inflight:
                lost = self._inflight.popleft()
                rt.slots.give(lost.n)
                writer.put_back(lost.outcomes)
            self._end_wait()
            self._error = exc
            self._poke()
            return
        self._inflight.popleft()
        if self._waiting is not None and self._waiting[0] is ticket:
            self._end_wait()
        self._backoff.reset()  # a reply came: the backend answers (a sent claim proves nothing)
        report_lost(rt.name, ticket.lost)
        if ticket.paused:
            rt.pause_gate.mark_paused(self.group)
        if len(deliveries) < ticket.n:
            rt.slots.give(ticket.n - len(deliveries))
        self._drained = not deliveries
        self._probing = False
        if deliveries:
            self.assign(deliveries)
            rt.dispatch(deliveries)
        self._poke()
