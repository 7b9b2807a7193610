"""Cron parsing and next-fire computation (cronsim), on the wall clock of a timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .._errors import InvalidScheduleError

__all__ = ["CronSchedule", "load_zone"]


def load_zone(timezone: str | None) -> ZoneInfo | None:
    """The ZoneInfo of an IANA name (None for UTC).

    Raises:
      InvalidScheduleError: for an unknown timezone.
    """
    if timezone is None:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        msg = f"unknown IANA timezone {timezone!r}"
        raise InvalidScheduleError(msg) from exc


class CronSchedule:
    """A validated cron pattern evaluated in one timezone.

    Five fields (minute hour day month weekday) or six (with seconds first), as
    Debian cron reads them, including its DST rules for patterns with a fixed
    minute and hour: a time skipped by a spring-forward gap fires once right after
    it, and a time in the repeated autumn hour fires once. Patterns with ``*`` in
    the minute or hour field follow the clock as it is, so ``0 * * * *`` fires in
    both passes through a repeated hour.
    """

    __slots__ = ("pattern", "timezone", "zone")

    def __init__(self, pattern: str, timezone: str | None = None) -> None:
        self.pattern = pattern
        self.timezone = timezone
        self.zone = load_zone(timezone)
        if not isinstance(pattern, str) or not pattern.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            msg = f"invalid cron pattern {pattern!r}: empty"
            raise InvalidScheduleError(msg)
        try:
            self.next_after(datetime(2000, 1, 1, tzinfo=UTC))
        except InvalidScheduleError:
            raise
        except (CronSimError, ValueError, StopIteration, OverflowError) as exc:
            msg = f"invalid cron pattern {pattern!r}: {exc}"
            raise InvalidScheduleError(msg) from exc

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after`` (aware), as an aware UTC datetime."""
        local = after.astimezone(self.zone) if self.zone is not None else after.astimezone(UTC)
        try:
            fire = next(CronSim(self.pattern, local))
        except CronSimError as exc:
            msg = f"invalid cron pattern {self.pattern!r}: {exc}"
            raise InvalidScheduleError(msg) from exc
        return fire.astimezone(UTC)
