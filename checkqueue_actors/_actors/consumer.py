"""ConsumerActor: the workers that run a queue's handlers and settle their outcomes.

Accepts: deliveries in the queue's run queue (claim order), put there by the
groups' routers, each holding a concurrency slot and assigned to a consumer.
Emits: one outcome per delivery (``RuntimeQueue.settle``: acked, retried after the
policy's backoff, failed, or released), the instruments' ``delivery_started`` and
``delivery_finished``, and the delivery's slot given back, or kept for the next
job (chaining, below). Everything that happens around one handler run (timeouts,
cancellation, outcomes) happens here, once, for every backend.

A delivery's timeout is the job's own (``Delivery.timeout``), else its group's
(``consume(timeout=...)``); with one, the handler runs in a cancel scope with that
deadline, and a run past it fails with ``JobTimeoutError`` (retried per
``max_retries`` like any failure; instruments see ``timed_out``). Without one, the
handler runs bare: a delivery pays nothing for timeouts it does not use.

The workers are one small pool per queue, grown on demand (a worker is started
only when a delivery waits and no worker is idle), so the steady state spawns no
task per job. They take deliveries in run-queue order, so handlers start in claim
order: priority, then FIFO, group by group.

A worker whose handler returns takes the next delivery without a task switch. One
idle worker is woken at a time (a second only if the first's handler blocks), so
a burst of short jobs costs few task switches. With an in-process storage, a
worker that finds the run queue empty claims its group's next job itself and keeps
its slot (``chain`` says when that changes nothing observable).
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any, cast

import trio

from .._errors import JobTimeoutError
from .._queue_base import current_handler_queue
from .._state import policy
from .._state.failed import join_error
from .._state.policy import CHAIN_MAX
from .._storage import Settle

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._model import QueueJob
    from .._storage import Delivery
    from .instruments import DeliveryOutcome
    from .queue import RuntimeQueue

__all__ = ["ConsumerActor"]

logger = logging.getLogger("checkqueue_actors")

_ACK = Settle.ACK
_RETRY = Settle.RETRY
_CANCEL = Settle.CANCEL
_RELEASE = Settle.RELEASE

_OUTCOMES: dict[Settle, DeliveryOutcome] = {
    Settle.ACK: "completed",
    Settle.RETRY: "retrying",
    Settle.FAIL: "failed",
    Settle.RELEASE: "released",
    Settle.CANCEL: "cancelled",
}
"""What instruments see for each way a delivery ends (a failure past its timeout:
``"timed_out"``)."""


def _failure_text(exc: BaseException) -> str:
    """What a storage keeps of a failed delivery: ``"ExcType: message"`` and the
    traceback (see ``failed.join_error``); built only when a delivery fails."""
    return join_error(f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)))


class _Worker:
    """What one worker task runs now, for ``ConsumerActor.cancel``."""

    __slots__ = ("cancelled", "delivery", "scope")

    def __init__(self) -> None:
        self.cancelled = False
        """``scope`` was cancelled (read instead of ``scope.cancel_called``: cheaper)."""
        self.delivery: Delivery | None = None
        """The delivery whose handler runs (or is about to), None between jobs."""
        self.scope: trio.CancelScope | None = None
        """Around the worker's deliveries: cancelled to cancel the running one, then
        replaced (one scope per worker, not per job)."""


class ConsumerActor:
    """The worker pool of one queue."""

    def __init__(self, runtime: RuntimeQueue[Any]) -> None:
        self._rt = runtime
        self._workers: set[_Worker] = set()
        self._idle: list[trio.lowlevel.Task] = []
        """Parked workers, the most recently parked last (woken first: its caches are warm)."""
        self._waking = 0
        """Workers woken (or started) that have not taken a delivery yet."""
        self.retiring = False
        """Set at stop, once no delivery will come: idle workers leave."""
        self.running = 0
        """Handlers running now."""
        self._idle_event: trio.Event | None = None

    async def wait_idle(self) -> None:
        """Wait until no handler runs (the queue is stopping: none will start)."""
        while self.running:
            self._idle_event = trio.Event()
            await self._idle_event.wait()

    def wake(self) -> None:
        """A delivery waits in the run queue: make sure a worker is coming for it."""
        if self._waking:
            return
        self._waking += 1
        idle = self._idle
        if idle:
            trio.lowlevel.reschedule(idle.pop())
        else:
            self._rt.handlers_nursery.start_soon(self._worker)

    def retire(self) -> None:
        """No delivery will come any more: idle workers leave."""
        self.retiring = True
        idle, self._idle = self._idle, []
        self._waking += len(idle)
        for task in idle:
            trio.lowlevel.reschedule(task)

    async def _park(self) -> None:
        """Sleep until ``wake`` or ``retire`` reschedules this worker (a bare trio wait:
        cheaper than a ParkingLot or a channel, which matters once per job when idle)."""
        task = trio.lowlevel.current_task()
        idle = self._idle
        idle.append(task)

        def abort(_: Any) -> trio.lowlevel.Abort:
            idle.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def running_by_group(self) -> dict[str, int]:
        """Handlers running now, by group."""
        counts: dict[str, int] = {}
        for worker in list(self._workers):
            delivery = worker.delivery
            if delivery is not None:
                counts[delivery.group] = counts.get(delivery.group, 0) + 1
        return counts

    def cancel(self, job_id: str, groups: Iterable[str] | None = None) -> int:
        """Cancel the running handlers of ``job_id`` (of ``groups`` only, unless None).

        Each one sees ``trio.Cancelled``; its delivery is settled ``CANCEL`` (neither
        retried nor counted), whatever the handler does with the cancellation.

        Returns:
          How many handlers were cancelled.
        """
        rt = self._rt
        count = 0
        for worker in self._workers:
            delivery = worker.delivery
            if delivery is None or delivery in rt.cancelled:
                continue
            job = delivery.job
            if (
                job is None
                or job.id != job_id
                or (groups is not None and delivery.group not in groups)
            ):
                continue
            rt.cancelled.add(delivery)
            assert worker.scope is not None
            worker.cancelled = True
            worker.scope.cancel(reason=f"job {job_id!r} cancelled")
            count += 1
        return count

    async def _worker(self) -> None:
        self._waking -= 1
        # this task runs nothing but this queue's handlers (and the runtime around them):
        # it is "in a handler of the queue" for its whole life (set once, not per job;
        # the task's context goes with it)
        current_handler_queue.set(self._rt)
        me = _Worker()
        self._workers.add(me)
        try:
            while True:
                # one scope for as long as no cancel_job hits this worker (entering a
                # scope per job would cost more than a short handler)
                with trio.CancelScope() as scope:
                    me.scope = scope
                    me.cancelled = False
                    if await self._work(me):
                        return
                if me.delivery is not None:
                    # its handler was cancelled (cancel_job): the delivery is settled, its
                    # slot comes back
                    me.delivery = None
                    self._rt.slots.give(1)
        finally:
            self._workers.discard(me)

    async def _work(self, me: _Worker) -> bool:
        """Run deliveries until the pool retires (returns True), or until ``cancel_job``
        cancelled ``me.scope`` (returns False, or raises ``Cancelled``, which the scope
        catches: the worker goes on in a new one)."""
        run_queue = self._rt.run_queue
        chained = 0
        ended: float | None = None
        """When the last delivery's clock reading was taken, while nothing was awaited
        since (the next delivery's handler time starts there: one reading per job)."""
        while True:
            if not run_queue:
                if self.retiring:
                    return True
                chained = 0
                ended = None
                await self._park()
                self._waking -= 1
                continue
            delivery: Any = run_queue.popleft()
            if run_queue and not self._waking:
                # the next delivery gets a worker of its own should this handler block;
                # one woken at a time: a handler that does not block chains to it first
                self.wake()
            while delivery is not None:
                me.delivery = delivery
                ended = await self.run_delivery(delivery, ended)
                if me.cancelled:
                    return False  # cancelled, and its handler returned anyway: a new scope
                me.delivery = None
                chained += 1
                if chained >= CHAIN_MAX:
                    chained = 0
                    ended = None
                    await trio.lowlevel.checkpoint()  # handlers that never yield: let others run
                delivery = self.chain(delivery)

    def chain(self, done: Delivery) -> Delivery | None:
        """After ``done`` ran: keep its slot for the group's next job, or give the slot back.

        A worker may claim and run the next job of its group itself (an in-process
        storage only) when that changes nothing observable: the queue is not
        stopping, no delivery waits in the run queue (it would start after a later
        job), and no other group's router waits for a slot (slots stay fair between
        groups). Round-robin is kept: the job goes to the group's next consumer.
        """
        rt = self._rt
        local = rt.local
        slots = rt.slots
        if local is not None and not rt.stopping and not rt.run_queue:
            # (a paused group's claims come back empty: the engine obeys the pause)
            router = rt.routers[done.group]
            if len(slots.line) <= router.waiting_for_slot:  # (Slots.waiters, inline)
                claimed = local.claim_one_nowait(done.group)
                if claimed is not None:
                    only = router.only
                    claimed.consumer = only if only is not None else router.consumers.next()
                    return claimed
        slots.give(1)
        return None

    async def run_delivery(self, delivery: Delivery, ended: float | None = None) -> float | None:
        """Run one delivery's handler and settle its outcome.

        Handler time (for the instruments) runs from ``ended``, the previous
        delivery's last clock reading when this one follows it with nothing awaited in
        between, else from a reading taken here; returns the reading taken at the end
        (``None`` when no instrument times deliveries, or the delivery did not run)."""
        rt = self._rt
        if rt.stopping:  # read each time: stop() may come during any handler
            # no new handler starts once stop() was called
            rt.settle(delivery, Settle.RELEASE, None)
            return None
        job = delivery.job
        if job is None:
            logger.error(
                "queue %r group %r: a stored job cannot be decoded (%s); failed without retries",
                rt.name,
                delivery.group,
                delivery.error,
            )
            rt.settle(delivery, Settle.FAIL, delivery.error or "undecodable job")
            return None
        extra = 0
        if delivery.suspect:
            ended = None  # it may wait below: its handler time starts after
            if rt.alone:
                # another suspect runs alone here: this one must not be lost with it
                rt.settle(delivery, Settle.RELEASE, None)
                return None
            rt.alone = True
            try:
                extra = await self._take_every_slot()
            except BaseException:
                rt.alone = False
                rt.settle(delivery, self._given_back(delivery), None)
                raise
            if cast("bool", rt.stopping):  # stop() came while it waited: it does not start
                rt.alone = False
                rt.slots.give(extra)
                rt.settle(delivery, Settle.RELEASE, None)
                return None
        instruments = rt.instruments
        if instruments.delivery_started:
            for hook in instruments.delivery_started:  # inline: once per job per hook
                try:
                    hook(rt, delivery.group, job)
                except Exception:
                    instruments.log_once(hook)
        if instruments.delivery_finished:
            started = ended if ended is not None else rt.elapsed()
        else:
            started = 0.0
        consumer = delivery.consumer
        timeout = delivery.timeout  # the job's own, else its group's (None: no timeout)
        if timeout is None:
            timeout = consumer.timeout
        timed_out = False
        self.running += 1
        try:
            if timeout is None:
                await consumer.handler(job)
            else:
                scope = trio.CancelScope(deadline=trio.current_time() + timeout)
                try:
                    with scope:
                        await consumer.handler(job)
                finally:
                    # also when the handler swallowed the cancellation, or turned it
                    # into an error of its own: the delivery ran past its timeout
                    timed_out = scope.cancel_called
                if timed_out:
                    raise JobTimeoutError(job.id, timeout)  # failed below, once
        except Exception as exc:
            if rt.cancelled and delivery in rt.cancelled:
                # cancelled (cancel_job), and the handler turned the cancellation into an
                # error of its own: cancelled all the same
                how, detail = Settle.CANCEL, None
            elif rt.interrupting:
                # cancelled once the stop's grace period passed, and the handler turned
                # the cancellation into an error: released all the same
                rt.interrupted_deliveries.append((job.id, delivery.group))
                how, detail = Settle.RELEASE, None
            else:
                if timed_out and not isinstance(exc, JobTimeoutError):
                    assert timeout is not None
                    error = JobTimeoutError(job.id, timeout)
                    error.__cause__ = exc
                    exc = error
                how, detail = self._failed(delivery, job, exc)
        except BaseException:
            # cancelled (cancel_job, a hard stop, or the stop's grace period passed) or
            # interrupted: the job goes back, at least once, unless cancel_job ended it
            how = self._given_back(delivery)
            if how is Settle.RELEASE and rt.interrupting:
                rt.interrupted_deliveries.append((job.id, delivery.group))
            rt.settle(delivery, how, None)
            self._finished(
                delivery, job, "cancelled" if how is Settle.CANCEL else "released", started
            )
            raise
        else:
            how, detail = _ACK, None
            if rt.cancelled and delivery in rt.cancelled:
                how = Settle.CANCEL  # the handler swallowed the cancellation
        finally:
            self.running -= 1
            if delivery.suspect:
                rt.alone = False
                rt.slots.give(extra)
            if not self.running and self._idle_event is not None:  # stop() waits for it
                self._idle_event.set()
        if how is _ACK:
            ack = rt.ack_nowait
            if ack is not None:
                ack(delivery)
            else:
                rt.settle(delivery, how, detail)
        else:
            if how is _CANCEL:
                rt.cancelled.discard(delivery)
            rt.settle(delivery, how, detail)
        if instruments.delivery_finished:
            outcome = _OUTCOMES[how]
            if timed_out and how is not _RELEASE and how is not _CANCEL:
                outcome = "timed_out"
            now = rt.elapsed()
            duration = now - started
            for hook in instruments.delivery_finished:  # inline: once per job per hook
                try:
                    hook(rt, delivery.group, job, outcome, duration)
                except Exception:
                    instruments.log_once(hook)
            return now
        return None

    def _given_back(self, delivery: Delivery) -> Settle:
        """How a delivery whose handler was interrupted ends: ``CANCEL`` when
        ``cancel_job`` interrupted it, else ``RELEASE`` (it runs again)."""
        cancelled = self._rt.cancelled
        if cancelled and delivery in cancelled:
            cancelled.discard(delivery)
            return Settle.CANCEL
        return Settle.RELEASE

    async def _take_every_slot(self) -> int:
        """Wait until no other handler of the queue runs and none can start: take every
        slot (a suspect delivery runs alone, so that a death is blamed on the right job),
        then write the outcomes not yet written, so that the suspect is the only
        delivery this process holds.

        The delivery's own slot is given back first and taken again with the others.
        Returns the slots taken beyond the delivery's own.
        """
        rt = self._rt
        slots = rt.slots
        slots.give(1)
        held = 0
        try:
            while held < slots.total:
                held += await slots.take(slots.total - held)
            if rt.writer is not None:
                await rt.writer.flush()
        except BaseException:
            slots.give(held)
            raise
        return held - 1

    def _failed(self, delivery: Delivery, job: QueueJob[Any], exc: Exception) -> tuple[Settle, Any]:
        """The outcome of a failed run: a retry after the policy's backoff, or a failure."""
        rt = self._rt
        attempts = job.attempts
        if policy.should_retry(attempts, delivery.max_retries):
            logger.info(
                "queue %r group %r: job %r failed (attempt %d), retrying: %r",
                rt.name,
                delivery.group,
                job.id,
                attempts + 1,
                exc,
            )
            delay = policy.retry_delay(attempts + 1, rt.delay_multiplier)
            return Settle.RETRY, (delay, _failure_text(exc))
        logger.warning(
            "queue %r group %r: job %r failed for good after %d attempt(s): %r",
            rt.name,
            delivery.group,
            job.id,
            attempts + 1,
            exc,
            exc_info=exc,
        )
        return Settle.FAIL, _failure_text(exc)

    def _finished(
        self, delivery: Delivery, job: QueueJob[Any], outcome: DeliveryOutcome, started: float
    ) -> None:
        instruments = self._rt.instruments
        if instruments.delivery_finished:
            duration = self._rt.elapsed() - started
            for hook in instruments.delivery_finished:  # inline: once per job per hook
                try:
                    hook(self._rt, delivery.group, job, outcome, duration)
                except Exception:
                    instruments.log_once(hook)
