"""Demo data whose dates move with the clock: `data_dated_for` in outreach.yaml.

A demo workspace is written around one day. With `data_dated_for: D`, every date its data
holds — the contacts' date cells, purchase dates, the dates of stories in its own feed files —
is moved forward by `today - D` whole days (today in the workspace's time zone), so the plan
at any moment is the plan of D moved to that day. Pure: the caller says how many days.

A birthday without a year moves as a day of the year 2000, a leap year, as it is read: 29
February is a day like the others. A date that moving would carry outside the years outreach
accepts is a bad cell (`Unmoved`): the contact loses that cell, the purchase is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Literal

from outreach.core.model import Birthday, Contact, Dataset, FeedEntry, Purchase
from outreach.core.timing import check_date

LEAP_YEAR = 2000  # where a birthday without a year is moved, as `parse_birthday` reads it


@dataclass(frozen=True, slots=True)
class Unmoved:
    """A date that moving would carry outside the accepted years: a bad cell."""

    what: Literal["contact", "purchase"]
    id: str
    line: int  # the contact's line in its file; 0 for a purchase (found by its id)
    column: str
    value: date  # as written


def days_to_move(dated_for: date, now: datetime, workspace_zone: tzinfo) -> int:
    """How many days the data moves at `now`: today (in the workspace's zone) minus the day
    the data was written for."""
    return (now.astimezone(workspace_zone).date() - dated_for).days


def moved_data(data: Dataset, days: int) -> tuple[Dataset, list[Unmoved]]:
    """`data` with every contact and purchase date `days` later, and the stories of the
    workspace's own feed files (`Mention.moves`); the stored ones are as they were found."""
    if days == 0:
        return data, []
    unmoved: list[Unmoved] = []
    contacts = {cid: _moved_contact(c, days, unmoved) for cid, c in data.contacts.items()}
    later: dict[date, date | None] = {}  # dates repeat: each is moved once
    purchases = {
        cid: _moved_purchases(items, days, later, unmoved) for cid, items in data.purchases.items()
    }
    mentions = [
        replace(m, entry=_moved_entry(m.entry, days)) if m.moves else m
        for found in data.mentions.values()
        for m in found
    ]
    rebuilt = Dataset.build(contacts, data.companies, mentions=mentions)
    return replace(rebuilt, purchases=purchases, do_not_write=data.do_not_write), unmoved


def _moved_entry(entry: FeedEntry, days: int) -> FeedEntry:
    """A story `days` later; a date moved outside the accepted years is no date (the story
    is then dated when it is read, like any undated one)."""
    if entry.published is None:
        return entry
    published: datetime | None
    try:
        published = entry.published + timedelta(days=days)
        check_date(published.date())
    except (OverflowError, ValueError):
        published = None
    return replace(entry, published=published)


def _moved_contact(contact: Contact, days: int, unmoved: list[Unmoved]) -> Contact:
    fields = dict(contact.fields)

    def move(column: str, day: date) -> date | None:
        later = _later(day, days)
        if later is None:
            unmoved.append(Unmoved("contact", contact.id, contact.line, column, day))
        elif column in fields:
            fields[column] = later.isoformat()
        return later

    written, birthday = contact.birthday, None
    if written is not None:
        birthday = _moved_birthday(written, days)
        if birthday is None:
            unmoved.append(
                Unmoved("contact", contact.id, contact.line, "birthday", _as_date(written))
            )
        elif "birthday" in fields:
            fields["birthday"] = _written(birthday)
    since = contact.customer_since and move("customer_since", contact.customer_since)
    dates = {column: later for column, day in contact.dates.items() if (later := move(column, day))}
    return replace(
        contact,
        fields=MappingProxyType(fields),
        birthday=birthday,
        customer_since=since or None,
        dates=MappingProxyType(dates),
    )


def _moved_birthday(birthday: Birthday, days: int) -> Birthday | None:
    if birthday.year is None:  # round the leap year: 29 February is a day like the others
        start = date(LEAP_YEAR, 1, 1)
        later = start + timedelta(days=((_as_date(birthday) - start).days + days) % 366)
        return Birthday(later.month, later.day)
    moved = _later(_as_date(birthday), days)
    return None if moved is None else Birthday(moved.month, moved.day, moved.year)


def _as_date(birthday: Birthday) -> date:
    return date(birthday.year or LEAP_YEAR, birthday.month, birthday.day)


def _written(birthday: Birthday) -> str:
    month_day = f"{birthday.month:02d}-{birthday.day:02d}"
    return month_day if birthday.year is None else f"{birthday.year:04d}-{month_day}"


def _moved_purchases(
    purchases: tuple[Purchase, ...],
    days: int,
    later: dict[date, date | None],
    unmoved: list[Unmoved],
) -> tuple[Purchase, ...]:
    """One contact's purchases, still in order: all move alike."""
    moved = []
    for p in purchases:
        if p.date not in later:
            later[p.date] = _later(p.date, days)
        day = later[p.date]
        if day is None:
            unmoved.append(Unmoved("purchase", p.id, 0, "date", p.date))
        else:  # NamedTuple's own __new__ and _replace are slower, and millions are made
            moved.append(tuple.__new__(Purchase, (p.id, p.contact_id, day, *p[3:])))
    return tuple(moved)


def _later(day: date, days: int) -> date | None:
    try:
        return check_date(day + timedelta(days=days))
    except (OverflowError, ValueError):
        return None
