"""The heartbeat: a host that slept through a cron occurrence fires it on waking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InMemoryQueueConfig, QueueJob, _clock

if TYPE_CHECKING:
    import pytest


async def test_suspended_host_fires_missed_cron_on_wake(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trio's monotonic clock stands still during suspend; the heartbeat notices the wall
    clock jumped, re-anchors, and the occurrence that fell in the gap fires once."""
    base = datetime(2026, 5, 1, 9, 59, 0, tzinfo=UTC)
    slept = [0.0]

    def fake_utc_now() -> datetime:
        return base + timedelta(seconds=trio.current_time() + slept[0])

    # behave like the real clock (re-anchoring on), with a controllable wall clock
    monkeypatch.setattr(_clock, "is_virtual_clock", lambda: False)
    monkeypatch.setattr(_clock, "utc_now", fake_utc_now)
    queue: InMemoryQueue[str] = InMemoryQueue("hb", InMemoryQueueConfig(heartbeat_interval_ms=1000))
    fired: list[tuple[str, float]] = []

    async def handler(job: QueueJob[str]) -> None:
        fired.append((job.id, trio.current_time()))

    with trio.fail_after(100):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await queue.schedule_recurring("x", job_id="hourly", cron_pattern="0 * * * *")
            details = await queue.get_recurring_job_details("hourly")
            assert details is not None
            assert details.next_run_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
            await trio.sleep(10)
            assert fired == []
            # the host sleeps for three hours: the wall clock moves, trio's clock does not
            slept[0] = 3 * 3600.0
            await trio.sleep(1.5)
            details = await queue.get_recurring_job_details("hourly")
    assert len(fired) == 1
    job_id, at = fired[0]
    assert job_id == "hourly:2026-05-01T10:00:00.000000Z"
    assert 10 <= at <= 11.5  # within one heartbeat of waking
    assert details is not None
    assert details.next_run_at == datetime(2026, 5, 1, 13, 0, tzinfo=UTC)


async def test_no_heartbeat_when_disabled(autojump_clock: trio.testing.MockClock) -> None:
    """heartbeat_interval_ms=0: an idle queue has no timer at all, so time jumps freely."""
    queue: InMemoryQueue[str] = InMemoryQueue("hb", InMemoryQueueConfig(heartbeat_interval_ms=0))
    async with queue:
        assert queue.engine.next_deadline() == float("inf")
        await trio.sleep(80_000)


async def _advances_in_10_s(monkeypatch: pytest.MonkeyPatch, advance: bool | None) -> int:
    """Advances of an idle queue over 10 s (heartbeat every second, a 4 s poll), its
    heartbeat answering ``HeartbeatReport(advance=advance)`` (None: no report)."""
    from checkqueue_actors._storage import HeartbeatReport

    queue: InMemoryQueue[str] = InMemoryQueue("hb", InMemoryQueueConfig(heartbeat_interval_ms=1000))
    storage = queue.storage
    calls = 0
    real_advance = storage.advance

    async def counted_advance() -> float:
        nonlocal calls
        calls += 1
        return await real_advance()

    async def heartbeat() -> HeartbeatReport | None:
        await trio.lowlevel.checkpoint()
        return None if advance is None else HeartbeatReport(advance=advance)

    monkeypatch.setattr(storage, "advance", counted_advance)
    monkeypatch.setattr(storage, "heartbeat", heartbeat)
    monkeypatch.setattr(storage, "work_poll_seconds", 4.0)
    async with queue:
        await trio.sleep(0.5)
        calls = 0
        await trio.sleep(10)
    return calls


async def test_a_heartbeat_that_moves_no_timer_causes_no_advance(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no timer, an idle queue advances every poll interval (the safety net), not
    after every heartbeat, when its heartbeat says no timer moved; a heartbeat that
    may have moved one (no report, or advance=True) is followed by an advance."""
    assert await _advances_in_10_s(monkeypatch, False) == 2  # at 4.0 and 8.0 s
    assert await _advances_in_10_s(monkeypatch, None) == 10
    assert await _advances_in_10_s(monkeypatch, True) == 10
