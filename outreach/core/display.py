"""How moments are written for people, in one place: every table, line and page that shows
a time uses `local_time`, so a day never reads 14:12, 09:00, 08:00 without saying why.

The convention: the recipient's wall clock with its offset (`2026-12-03 09:00 +0400`), rows
ordered by the instant. JSON keeps ISO-8601 instants with offsets (`isoformat`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from outreach.core.timing import zone


def local_time(moment: datetime, zone: tzinfo | None = None) -> str:
    """`moment` on the wall clock of `zone` (else its own), with the offset."""
    return moment.astimezone(zone or moment.tzinfo or UTC).strftime("%Y-%m-%d %H:%M %z")


def iso_instant(moment: datetime | None, zone: tzinfo | None = None) -> str | None:
    """`moment` in ISO 8601 to the second, with its offset (on `zone`'s clock if given), for
    JSON outputs; None stays None."""
    if moment is None:
        return None
    return (moment.astimezone(zone) if zone else moment).isoformat(timespec="seconds")


def local_second(moment: datetime, zone: tzinfo | None = None) -> str:
    """`local_time` to the second: for a channel's rest, often a few seconds long."""
    return moment.astimezone(zone or moment.tzinfo or UTC).strftime("%Y-%m-%d %H:%M:%S %z")


def zone_or(name: str | None, fallback: tzinfo) -> tzinfo:
    """The zone `name` (a recipient's, as stored), else `fallback` (the workspace's): for a
    row kept before outreach stored zones, or a zone this machine does not know."""
    try:
        return zone(name) if name else fallback
    except ValueError:
        return fallback


def age(seconds: float) -> str:
    """A duration as people say it: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60 % 60, whole // 3600 % 24, whole // 86400
    if not hours and not days:
        return f"{minutes} min"
    if not days:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{days} d {hours} h" if hours else f"{days} d"


def since(then: datetime, now: datetime) -> str:
    return age((now - then) / timedelta(seconds=1))
