"""ReadySet: one group's ready jobs in priority, then (available_at, enqueue order) order.

A binary heap over every ready job works, but at a million-job backlog each pop
walks twenty levels of a heap scattered over memory. Nearly every job arrives
in key order (an immediate enqueue is available "now", later than every job
before it, and a delayed job at the end of its delay), so each priority level
keeps a FIFO deque for in-order arrivals, popped in O(1) from the front, plus a
heap for the rest: a job that arrives out of order (released a little after a
later job, or a delivery given back) and a retry (ready at the end of its
backoff, a key of its own). The FIFO holds the records themselves, each under its
own key (``record.available_at``, ``record.seq``): no tuple per waiting job. Levels
are found through a heap of the priorities that have jobs, which stays tiny.
Dropped jobs are skipped lazily when they surface and compacted away when they
outnumber the live ones.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ReadySet"]


class _Record(Protocol):
    """What the set reads of a job record: whether it was dropped, and its own key."""

    @property
    def dropped(self) -> bool: ...

    @property
    def available_at(self) -> float: ...

    @property
    def seq(self) -> int: ...


R = TypeVar("R", bound=_Record)

_COMPACT_MIN = 64


class _Level(Generic[R]):
    __slots__ = ("fifo", "late")

    def __init__(self) -> None:
        self.fifo: deque[R] = deque()
        """Records in key order, each under its own key ``(available_at, seq)``: no
        tuple per entry (the common case: a job ready at its enqueue time, or at the end
        of its initial delay)."""
        self.late: list[tuple[float, int, R]] = []
        """A heap of the rest: entries out of order, or under another key than the
        record's own (a retry ready at the end of its backoff)."""


class ReadySet(Generic[R]):
    """Ready jobs of one group; ``pop`` returns the best one."""

    __slots__ = ("_levels", "_priorities", "live", "size")

    def __init__(self) -> None:
        self._levels: dict[int, _Level[R]] = {}
        self._priorities: list[int] = []  # heap of -priority values that have a level
        self.live = 0
        """Entries whose job is not dropped."""
        self.size = 0
        """All entries, dropped ones included."""

    def __len__(self) -> int:
        return self.live

    def __bool__(self) -> bool:
        return self.live > 0

    def push(self, neg_priority: int, available_at: float, seq: int, record: R) -> None:
        """Add a job under the key ``(neg_priority, available_at, seq)``."""
        level = self._levels.get(neg_priority)
        if level is None:
            level = self._levels[neg_priority] = _Level()
            heapq.heappush(self._priorities, neg_priority)
        fifo = level.fifo
        if seq == record.seq and available_at == record.available_at:  # its own key
            if not fifo:
                fifo.append(record)
            else:
                last = fifo[-1]
                at = last.available_at
                if available_at > at or (available_at == at and seq > last.seq):
                    fifo.append(record)
                else:
                    # no two entries share (available_at, seq) (seq is unique): records
                    # are never compared in the heap
                    heapq.heappush(level.late, (available_at, seq, record))
        else:
            heapq.heappush(level.late, (available_at, seq, record))
        self.live += 1
        self.size += 1

    def pop(self) -> tuple[int, float, int, R] | None:
        """Remove and return the best live entry: ``(neg_priority, available_at, seq, record)``."""
        priorities, levels = self._priorities, self._levels
        while priorities:
            neg_priority = priorities[0]
            level = levels[neg_priority]
            fifo, late = level.fifo, level.late
            while fifo or late:
                if late and (not fifo or _before(late[0], fifo[0])):
                    available_at, seq, record = heapq.heappop(late)
                else:
                    record = fifo.popleft()
                    available_at, seq = record.available_at, record.seq
                self.size -= 1
                if record.dropped:
                    continue
                self.live -= 1
                return neg_priority, available_at, seq, record
            heapq.heappop(priorities)
            del levels[neg_priority]
        return None

    def forget_one(self) -> None:
        """A job in this set was dropped: its entry is now dead (skipped later)."""
        self.live -= 1
        if self.size - self.live > _COMPACT_MIN and self.size > 2 * self.live:
            self._compact()

    def _compact(self) -> None:
        for level in self._levels.values():
            level.fifo = deque(r for r in level.fifo if not r.dropped)
            level.late = [e for e in level.late if not e[2].dropped]
            heapq.heapify(level.late)
        self.size = self.live

    def clear(self) -> None:
        """Remove every entry."""
        self._levels.clear()
        self._priorities.clear()
        self.live = 0
        self.size = 0

    def ordered(self) -> Iterator[tuple[int, float, int, R]]:
        """The live entries in ``pop`` order, without taking them out:
        ``(neg_priority, available_at, seq, record)``. Reading the first ``k`` costs
        about ``k`` steps (plus sorting the few out-of-order arrivals of each level)."""
        for neg_priority in sorted(self._levels):
            level = self._levels[neg_priority]
            own = ((r.available_at, r.seq, r) for r in level.fifo)
            for available_at, seq, record in heapq.merge(own, sorted(level.late)):
                if not record.dropped:
                    yield neg_priority, available_at, seq, record

    def records(self) -> Iterator[R]:
        """Every live record, in no particular order."""
        for level in self._levels.values():
            for record in level.fifo:
                if not record.dropped:
                    yield record
            for entry in level.late:
                if not entry[2].dropped:
                    yield entry[2]


def _before(entry: tuple[float, int, object], record: _Record) -> bool:
    """Whether a heap entry's key comes before a record's own key."""
    at = record.available_at
    return entry[0] < at or (entry[0] == at and entry[1] < record.seq)
