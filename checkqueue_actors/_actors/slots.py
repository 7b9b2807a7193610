"""Slots: the queue's concurrency limit, shared by the routers of its groups.

A slot is taken when a delivery is claimed and given back when its handler has
finished (or the delivery was given back unrun), so at most ``concurrency``
deliveries are claimed and unsettled in this process at once. Routers that find
no free slot wait in line: a slot given back goes to the router that has waited
longest, so one busy group cannot starve another.

Unlike ``trio.CapacityLimiter`` it hands out several slots at once (a router
claims as many jobs as it has slots) and keeps no borrower set: a slot is a count.

A router with nothing to do may *lend* itself a slot for its wait for work (its
claim then rides behind the wait, on a storage that can send both at once): only
while nobody else wants one, and it is recalled as soon as anybody does, so an
idle group never keeps a slot from a busy one for longer than a round trip.
"""

from __future__ import annotations

from collections import deque

import trio

__all__ = ["Slots"]


class _Waiter:
    __slots__ = ("event", "granted", "want")

    def __init__(self, want: int) -> None:
        self.want = want
        self.granted = 0
        self.event = trio.Event()


class Slots:
    """A counted pool of ``total`` slots with a fair line of waiters."""

    __slots__ = ("_lenders", "_watchers", "free", "line", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        """Slots nobody holds and nobody waits for."""
        self.line: deque[_Waiter] = deque()
        """Routers waiting for slots, first come first (read-only outside)."""
        self._watchers: list[tuple[int, trio.Event]] = []
        self._lenders: list[trio.Event] = []
        """The events of the routers holding a lent slot, set to recall it."""

    @property
    def waiters(self) -> int:
        """Routers waiting for a slot."""
        return len(self.line)

    def take_nowait(self, want: int) -> int:
        """Take up to ``want`` free slots at once (none while others wait in line)."""
        if self.line:
            n = 0
        else:
            n = min(want, self.free)
            self.free -= n
        if n < want and self._lenders:
            self._recall()
        return n

    def take_one_nowait(self) -> bool:
        """``take_nowait(1)``, on the hot path of in-process routers."""
        if self.line or not self.free:
            return False
        self.free -= 1
        return True

    async def take(self, want: int) -> int:
        """Take between 1 and ``want`` slots, waiting in line for the first one.

        Cancellation: slots granted to a cancelled waiter are given back.
        """
        n = self.take_nowait(want)
        if n:
            await trio.lowlevel.checkpoint()
            return n
        waiter = _Waiter(want)
        self.line.append(waiter)  # take_nowait has recalled the lent slots
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.give(waiter.granted)
            else:
                self.line.remove(waiter)
            raise
        return waiter.granted

    def notify_when_free(self, want: int, event: trio.Event) -> None:
        """Set ``event`` once ``want`` slots are free (a router with a claim on the way
        sends the next one as soon as it is worth it, without taking slots now)."""
        if self.free >= want and not self.line:
            event.set()
        else:
            self._watchers.append((want, event))
            if self._lenders:
                self._recall()

    def lend_nowait(self, recall: trio.Event) -> bool:
        """Take one slot for an idle router's wait, if nobody else wants a slot now.

        ``recall`` is set as soon as anybody wants more slots than are free (a take
        falls short, a router gets in line or watches for free slots): the router
        then ends its wait, and gives the slot back unless its claim found a job.
        The slot is given back with ``give``, as any other; ``unlend`` first.
        """
        if self.line or not self.free:
            return False
        if self._watchers and any(not event.is_set() for _, event in self._watchers):
            return False
        self.free -= 1
        self._lenders.append(recall)
        return True

    def unlend(self, recall: trio.Event) -> None:
        """The wait that ``recall`` belongs to has ended: stop recalling its slot."""
        if recall in self._lenders:
            self._lenders.remove(recall)

    def _recall(self) -> None:
        lenders, self._lenders = self._lenders, []
        for recall in lenders:
            recall.set()

    def give(self, n: int) -> None:
        """Give back ``n`` slots: to the routers in line first, in the order they came."""
        line = self.line
        while n and line:
            waiter = line[0]
            take = min(n, waiter.want)
            waiter.granted = take
            n -= take
            line.popleft()
            waiter.event.set()
        self.free += n
        if self._watchers and n:
            free = self.free
            keep: list[tuple[int, trio.Event]] = []
            for want, event in self._watchers:
                if event.is_set():
                    continue  # its waiter woke up for another reason
                if free >= want:
                    event.set()
                else:
                    keep.append((want, event))
            self._watchers = keep
