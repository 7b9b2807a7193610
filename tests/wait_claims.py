"""A probe shared by the wait-claim tests of the I/O path (in memory) and of Redis."""

from __future__ import annotations

from typing import Any


class ClaimKinds:
    """Wraps a storage's ``send_wait_claim`` and ``receive_claim`` to record, for each
    job delivered, whether a wait claim (``"wait"``) or a plain one (``"plain"``)
    brought it: ``delivered_by[job.data]``."""

    def __init__(self, storage: Any) -> None:
        self.delivered_by: dict[Any, str] = {}
        self.waits: list[Any] = []
        send_wait_claim, receive_claim = storage.send_wait_claim, storage.receive_claim

        async def wait_claim(group: str, n: int, wait_seconds: float) -> Any:
            ticket = await send_wait_claim(group, n, wait_seconds)
            self.waits.append(ticket)
            return ticket

        async def receive(ticket: Any) -> Any:
            deliveries = await receive_claim(ticket)
            kind = "wait" if any(ticket is t for t in self.waits) else "plain"
            for delivery in deliveries:
                self.delivered_by[delivery.job.data] = kind
            return deliveries

        storage.send_wait_claim, storage.receive_claim = wait_claim, receive
