"""Where `now` comes from. Core never reads the clock; commands take `--now` or this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(moment: datetime) -> Clock:
    return lambda: moment


def parse_now(text: str, tz: ZoneInfo) -> datetime:
    """An ISO date or date-time; without an offset it is read in the workspace's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an ISO date-time, e.g. 2026-12-01T09:00:00+00:00"
        ) from None
    if len(text.strip()) == 10:  # a bare date means its start
        moment = datetime.combine(moment.date(), time())
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
