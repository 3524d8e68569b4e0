"""Calendar and clock arithmetic in the recipient's time zone: pure functions of their inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_DURATION = re.compile(r"^\s*(\d+)\s*(w|d|h|m|s)\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_DURATION = timedelta(days=3660)  # ten years: any longer is a typo
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# Dates read from data and feeds must lie within these years: then every sum planning makes
# with them (lead days, offsets of a century, time zones) stays inside what datetime holds.
EARLIEST_DATE = date(1800, 1, 1)
LATEST_DATE = date(2999, 12, 31)


def check_date(day: date) -> date:
    """`day`, or ValueError when it lies outside the years outreach accepts from data."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"outside the years {EARLIEST_DATE.year}-{LATEST_DATE.year}")
    return day


def parse_duration(text: str) -> timedelta:
    """'2d', '36h', '30m', '1w' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write a number and a unit: 30m, 12h, 2d, 1w")
    try:
        value = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        value = MAX_DURATION * 2
    if value > MAX_DURATION:
        raise ValueError(f"'{text}' is longer than {MAX_DURATION.days} days")
    return value


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_clock(text: str) -> time:
    """'09:00' -> time(9, 0)."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time of day; write HH:MM, e.g. 09:00")
    return time(int(match[1]), int(match[2]))


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError with a hint when unknown.

    A name with the right city under another region ('Europe/Reykjavik') resolves to the
    zone of that city ('Atlantic/Reykjavik'); callers compare `.key` to warn about it.
    """
    if len(name) > 100:  # IANA names are short; a long one is no file name the OS takes
        raise ValueError(f"'{name[:40]}...' is not a time zone; use an IANA name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    same_city = _zones_by_city().get(name.rsplit("/", 1)[-1].lower(), [])
    if len(same_city) == 1:
        return ZoneInfo(same_city[0])
    hint = (
        f"did you mean {same_city[0]}?" if same_city else "use an IANA name such as Europe/Berlin"
    )
    raise ValueError(f"unknown time zone '{name}'; {hint}")


@lru_cache(maxsize=1)
def _zones_by_city() -> dict[str, list[str]]:
    cities: dict[str, list[str]] = {}
    for key in sorted(available_timezones()):
        if "/" in key and not key.startswith(("Etc/", "SystemV/")):
            cities.setdefault(key.rsplit("/", 1)[-1].lower(), []).append(key)
    return cities


def is_time_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def wall_clock(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The moment the clocks in `tz` show `at` on `day`.

    A time skipped by a DST jump (02:30 on a spring-forward night) becomes the same time
    after the jump (03:30); a time that happens twice takes the first.
    """
    naive = datetime.combine(day, at)
    moment = naive.replace(tzinfo=tz)
    # Round-tripping through UTC normalises a non-existent local time forward.
    return moment.astimezone(UTC).astimezone(tz)


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # spans midnight

    def defer(self, moment: datetime) -> datetime:
        """`moment` itself, or the end of the quiet hours it falls in (local time)."""
        local = moment.timetz().replace(tzinfo=None)
        if not self.contains(local):
            return moment
        day = moment.date()
        if self.start > self.end and local >= self.start:
            day += timedelta(days=1)
        assert isinstance(moment.tzinfo, ZoneInfo)
        end = wall_clock(day, self.end, moment.tzinfo)
        # Compare instants: datetimes sharing a tzinfo compare by wall clock, DST ignored.
        if end.timestamp() <= moment.timestamp():  # the end happens twice (DST ends): 2nd
            later = datetime.combine(day, self.end).replace(tzinfo=moment.tzinfo, fold=1)
            end = later.astimezone(UTC).astimezone(moment.tzinfo)
        return end if end.timestamp() > moment.timestamp() else moment


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive range of local dates."""

    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def starts_after(self, day: date) -> bool:
        """Nothing on `day` or earlier can fall in this range."""
        return day < self.first

    def years(self) -> range:
        return range(self.first.year, self.last.year + 1)


def local_dates(start: datetime, end: datetime, tz: ZoneInfo) -> DateRange:
    """The local dates in `tz` that the instants [start, end) touch, one day of slack each side
    (quiet hours may push a send into the next day)."""
    return DateRange(
        start.astimezone(tz).date() - timedelta(days=1),
        end.astimezone(tz).date() + timedelta(days=1),
    )


def month_day(year: int, month: int, day: int, feb29: str) -> date | None:
    """The date of a yearly occasion on month/day in `year`; Feb 29 in a common year follows
    the policy: 'feb28', 'mar1' or 'skip' (None)."""
    if (month, day) != (2, 29):
        return date(year, month, day)
    try:
        return date(year, 2, 29)
    except ValueError:
        if feb29 == "feb28":
            return date(year, 2, 28)
        if feb29 == "mar1":
            return date(year, 3, 1)
        return None
