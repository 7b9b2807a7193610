"""Cron schedules: parsing, timezones, DST, and firing on the wall clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from checkqueue_actors import InMemoryQueue, InvalidScheduleError, QueueJob
from checkqueue_actors._state.cron import CronSchedule


@pytest.mark.parametrize(
    "pattern", ["", "* * *", "61 * * * *", "* * * * * * *", "0 0 30 2 *", "@hourly-ish"]
)
def test_invalid_patterns(pattern: str) -> None:
    """A pattern cronsim cannot use is an InvalidScheduleError at once."""
    with pytest.raises(InvalidScheduleError, match="invalid cron pattern"):
        CronSchedule(pattern)


def test_unknown_timezone() -> None:
    """An unknown IANA name is an InvalidScheduleError."""
    with pytest.raises(InvalidScheduleError, match="unknown IANA timezone 'Mars/Olympus'"):
        CronSchedule("* * * * *", "Mars/Olympus")


def test_next_after_in_a_timezone() -> None:
    """09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer."""
    cron = CronSchedule("0 9 * * *", "Europe/Paris")
    winter = cron.next_after(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))
    assert winter == datetime(2026, 1, 11, 8, 0, tzinfo=UTC)
    summer = cron.next_after(datetime(2026, 7, 10, 12, 0, tzinfo=UTC))
    assert summer == datetime(2026, 7, 11, 7, 0, tzinfo=UTC)


def test_dst_gap_and_overlap_fire_once() -> None:
    """02:30 Paris: skipped on the spring-forward night fires once after the gap; the
    repeated autumn hour fires once."""
    cron = CronSchedule("30 2 * * *", "Europe/Paris")
    spring = cron.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert spring == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, right after the gap
    autumn_first = cron.next_after(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert autumn_first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    autumn_next = cron.next_after(autumn_first)
    assert autumn_next == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not 02:30 CET again


def test_six_field_patterns_have_seconds() -> None:
    """Six fields put seconds first."""
    cron = CronSchedule("*/15 * * * * *")
    start = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert cron.next_after(start) == datetime(2026, 1, 1, 0, 0, 15, tzinfo=UTC)


async def test_cron_fires_on_the_wall_clock(autojump_clock: trio.testing.MockClock) -> None:
    """A cron job fires at the wall times its pattern names, with next_run_at ahead of it."""
    queue: InMemoryQueue[str] = InMemoryQueue("cron")
    fired: list[tuple[str, datetime]] = []

    async def handler(job: QueueJob[str]) -> None:
        fired.append((job.id, job.timestamp))

    with trio.fail_after(4000):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await queue.schedule_recurring(
                "tick", job_id="every-15-min", cron_pattern="*/15 * * * *", timezone="Asia/Kolkata"
            )
            details = await queue.get_recurring_job_details("every-15-min")
            assert details is not None
            assert details.cron_pattern == "*/15 * * * *"
            assert details.interval_seconds is None
            assert details.timezone == "Asia/Kolkata"
            first = details.next_run_at
            assert first is not None
            # Kolkata is UTC+05:30, so quarter hours there are quarter hours in UTC too
            assert first.minute % 15 == 0
            assert first.second == 0
            await trio.sleep(3 * 900 + 1)
    assert len(fired) == 3
    ticks = [datetime.fromisoformat(job_id.split(":", 1)[1]) for job_id, _ in fired]
    assert ticks[0] == first
    assert [b - a for a, b in itertools.pairwise(ticks)] == [timedelta(minutes=15)] * 2
    # each occurrence was enqueued at its tick (the mock clock runs exactly on time)
    assert [ts for _, ts in fired] == ticks


async def test_cron_and_interval_are_exclusive(autojump_clock: trio.testing.MockClock) -> None:
    """Exactly one of interval_seconds and cron_pattern; an invalid pattern fails at once."""
    queue: InMemoryQueue[str] = InMemoryQueue("cron")
    async with queue:
        with pytest.raises(ValueError, match="exactly one of interval_seconds and cron_pattern"):
            await queue.schedule_recurring("x", job_id="a")
        with pytest.raises(ValueError, match="exactly one"):
            await queue.schedule_recurring(
                "x", job_id="a", interval_seconds=1, cron_pattern="* * * * *"
            )
        with pytest.raises(InvalidScheduleError):
            await queue.schedule_recurring("x", job_id="a", cron_pattern="not cron")
        with pytest.raises(InvalidScheduleError):
            await queue.schedule_recurring(
                "x", job_id="a", cron_pattern="* * * * *", timezone="Nowhere/Land"
            )
        assert await queue.list_recurring_jobs() == []
