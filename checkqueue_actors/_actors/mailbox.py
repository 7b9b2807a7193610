"""A doorbell: a one-slot memory channel that wakes one sleeping actor.

Ringing an already-rung doorbell does nothing, so producers never block and an
actor never has more than one wake-up queued however many events arrived.
"""

from __future__ import annotations

import trio

__all__ = ["Doorbell"]


class Doorbell:
    """Wake-ups for one actor."""

    __slots__ = ("_recv", "_send")

    def __init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel[None](1)

    def ring(self) -> None:
        """Wake the actor (idempotent until it wakes)."""
        try:
            self._send.send_nowait(None)
        except trio.WouldBlock:
            pass  # already rung

    async def wait(self) -> None:
        """Sleep until rung."""
        await self._recv.receive()

    def close(self) -> None:
        """Close both ends."""
        self._send.close()
        self._recv.close()
