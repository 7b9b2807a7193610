"""PauseGate: this process's view of which groups of a queue are paused.

The storage holds the pause state and its claims obey it (a paused group is
claimed from no more, whoever asks). The gate is what keeps this process's
routers and chaining workers from asking in vain: a router finding its group
paused waits on the gate until a resume, instead of claiming (or waking) over
and over.

Accepts: the state the storage reports (``update``: after this process's own
``pause``/``resume``, from each ``heartbeat`` of a storage shared with other
processes) and claim replies saying "paused" (``mark_paused``: another process
paused it since the last heartbeat).
Emits: wake-ups of the routers waiting in ``wait_resumed``.
"""

from __future__ import annotations

import trio

from .._storage import PauseState

__all__ = ["PauseGate"]


class PauseGate:
    """Which groups of one queue are paused, as this process last learned it."""

    __slots__ = ("_changed", "any", "state")

    def __init__(self) -> None:
        self.state = PauseState()
        self.any = False
        """True while anything is paused (the one test on the routers' hot paths)."""
        self._changed = trio.Event()

    def paused(self, group: str) -> bool:
        """True when ``group`` starts no delivery (it or the whole queue is paused)."""
        return self.any and self.state.is_paused(group)

    def update(self, state: PauseState) -> None:
        """The storage's state, as just read or written."""
        if state == self.state:
            return
        self.state = state
        self.any = state.queue or bool(state.groups)
        self._changed.set()
        self._changed = trio.Event()

    def mark_paused(self, group: str) -> None:
        """A claim for ``group`` was refused as paused: wait for a resume from now on (the
        next state read from the storage says whether it still holds)."""
        state = self.state
        if not state.is_paused(group):
            self.update(PauseState(state.queue, state.groups | {group}))

    async def wait_resumed(self, group: str) -> None:
        """Return once ``group`` is not paused (at once when it is not)."""
        while self.paused(group):
            await self._changed.wait()
