"""OutcomeWriter: writes how deliveries ended to a storage that does I/O.

Accepts: outcomes from the workers (``add``), claims' outcomes that did not
reach the storage (``put_back``), and routers saying whether they will claim
soon (``carrier_awake`` / ``carrier_asleep``).
Emits: ``Storage.settle`` calls.

An outcome does not wait for a write of its own: while a router is awake it
will claim again soon, and its claim carries every outcome waiting (one call
writes them, then claims). Only when no router will claim soon (all are waiting
for work, or the queue is stopping) does the writer write them itself, one call
per batch. In-process storages settle at once and have no writer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from .._errors import BackendRefusedError, BackendUnavailableError
from .backoff import BackendHealth, Backoff

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._storage import Outcome, Storage

__all__ = ["OutcomeWriter"]

logger = logging.getLogger("checkqueue_actors")


class OutcomeWriter:
    """The outcomes of one queue not yet written, and the task that writes them."""

    def __init__(self, storage: Storage, name: str, health: BackendHealth | None = None) -> None:
        self._storage = storage
        self._name = name
        self._health = health if health is not None else BackendHealth(name)
        self.pending: list[Outcome] = []
        self.carriers = 0
        """Routers awake: each will claim soon, carrying the pending outcomes."""
        self._wake = trio.Event()
        self._batch_done: trio.Event | None = None

    def add(self, outcome: Outcome) -> None:
        """An outcome to write."""
        self.pending.append(outcome)
        if not self.carriers:
            self._wake.set()

    def take(self) -> list[Outcome]:
        """Every pending outcome, for a claim to carry."""
        batch, self.pending = self.pending, []
        return batch

    def put_back(self, batch: Sequence[Outcome]) -> None:
        """Outcomes a claim carried without its reply arriving: write them again
        (writing one twice is harmless)."""
        if batch:
            self.pending[:0] = batch
            if not self.carriers:
                self._wake.set()

    def carrier_awake(self) -> None:
        """A router woke up: it will claim soon."""
        self.carriers += 1

    def carrier_asleep(self) -> None:
        """A router will not claim soon (it waits for work, backs off, or stopped)."""
        self.carriers -= 1
        if not self.carriers and self.pending:
            self._wake.set()

    async def run(self) -> None:
        """Write outcomes no claim will carry soon, until cancelled."""
        while True:
            if not self.pending or self.carriers or self._batch_done is not None:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            with trio.CancelScope(shield=True):
                await self._write_batch()

    async def flush(self) -> None:
        """Write every outcome left (the queue stopped: no claim carries them any more)."""
        while True:
            if self._batch_done is not None:
                await self._batch_done.wait()
            elif self.pending:
                await self._write_batch()
            else:
                return

    async def _write_batch(self) -> None:
        """One ``settle`` call for the outcomes waiting, retried through short outages.

        Given up once a lease has passed (at least 1 s): the deliveries are then
        redelivered by the storage anyway (at least once).
        """
        batch = self.take()
        self._batch_done = done = trio.Event()
        backoff = Backoff("writing outcomes", self._health)
        lease = self._storage.lease_seconds
        deadline = trio.current_time() + max(lease if lease is not None else 1.0, 1.0)
        try:
            while True:
                try:
                    lost = await self._storage.settle(batch)
                except (BackendUnavailableError, BackendRefusedError) as exc:
                    if trio.current_time() > deadline:
                        logger.warning(
                            "queue %r: %d outcomes could not be written (%s); the deliveries "
                            "are redelivered after their lease",
                            self._name,
                            len(batch),
                            exc,
                        )
                        return
                    await backoff.wait(exc)
                    continue
                backoff.reset()
                report_lost(self._name, lost)
                return
        finally:
            self._batch_done = None
            done.set()
            if self.pending and not self.carriers:
                self._wake.set()


def report_lost(name: str, lost: Sequence[object]) -> None:
    """Warn about deliveries whose lease was lost before their outcome was written."""
    for delivery in lost:
        job = getattr(delivery, "job", None)
        logger.warning(
            "queue %r group %r: job %r lost its lease before its outcome was written "
            "(it was redelivered)",
            name,
            getattr(delivery, "group", "?"),
            job.id if job is not None else "?",
        )
