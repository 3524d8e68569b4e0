"""Which contacts a rule may fire for in a range of dates, looked up in an index of the data
instead of asked of every contact: planning then costs what can fall due, not what exists.

A lookup may name too many contacts (the trigger still decides), never too few. Calendar
triggers are looked up by month and day (birthdays, anniversaries, Feb 29 under any policy)
or by date (a date column and its offset); purchase triggers by each contact's last purchase
(a milestone or a stage is crossed by a purchase in the range, silence ends `days` after the
last one); news by the company a contact works at. A kind without an index here says None:
every contact. An index is built once per loaded data file and kept beside the data, so the
daemon's planning ticks reuse it until the file changes."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Mapping
from datetime import date, timedelta
from typing import Any

from outreach.core.model import Contact, Dataset, Purchase
from outreach.core.rules import Rule
from outreach.core.timing import DateRange
from outreach.core.triggers import date_field

MonthDay = tuple[int, int]
FEB29: MonthDay = (2, 29)
# A wider range holds every month and day: then no lookup saves anything.
WHOLE_YEAR = timedelta(days=366)


def due_contacts(rule: Rule, data: Dataset, dates: DateRange) -> Collection[str] | None:
    """The ids of the contacts `rule` may fire for on `dates` (local dates, any zone: the
    range is widened by a day each side), or None: any contact may."""
    lookup = _LOOKUPS.get(rule.trigger.kind)
    if lookup is None:
        return None
    wide = DateRange(dates.first - timedelta(days=1), dates.last + timedelta(days=1))
    return lookup(rule.trigger.params, data, wide)


def _birthday(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    days = _month_days(dates, params.lead_days)
    if days is None:
        return None
    index = _indexed(data, "birthday", data.contacts, _by_birthday)
    return {contact for day in days for contact in index.get(day, ())}


def _anniversary(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    days = _month_days(dates, params.lead_days)
    if days is None:
        return None
    index = _indexed(
        data, f"anniversary:{params.field}", data.contacts, _by_month_day(params.field)
    )
    return {contact for day in days for contact in index.get(day, ())}


def _on_date(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    days, ids = _indexed(data, f"date:{params.field}", data.contacts, _by_date(params.field))
    return _shifted_into(days, ids, dates, timedelta(days=params.offset_days))


def _shifted_into(
    days: list[date], ids: list[str], dates: DateRange, shift: timedelta
) -> set[str] | None:
    """Whose day, `shift` later, falls on `dates` — and whose cannot be shifted at all (the
    trigger fails on it, and that failure is the contact's `error` decision)."""
    try:
        found = set(
            ids[bisect_left(days, dates.first - shift) : bisect_right(days, dates.last - shift)]
        )
    except OverflowError:
        return None
    if shift > timedelta(0):
        found.update(ids[bisect_right(days, date.max - shift) :])
    else:
        found.update(ids[: bisect_left(days, date.min - shift)])
    return found


def _milestone(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    return _bought_since(data, dates.first)


def _inactivity(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    days, ids = _indexed(data, "last purchase", data.purchases, _by_last_purchase)
    return _shifted_into(days, ids, dates, timedelta(days=params.days))


def _loyalty_stage(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    if "prospect" in params.to:
        return None  # entered by everyone without a purchase, on the day they are seen
    # A stage is entered by a purchase of one's own, `advocate` by one of someone referred.
    return _bought_since(data, dates.first) | set(data.referrals)


def _news_mention(params: Any, data: Dataset, dates: DateRange) -> Collection[str] | None:
    """Who works at a company in the news (one of the rule's companies, if it names them)."""
    by_company = _indexed(data, "company", data.contacts, _by_company)
    named = data.mentions.keys() if params.companies is None else params.companies
    return {contact for company in named if company in data.mentions
            for contact in by_company.get(company, ())}  # fmt: skip


def _bought_since(data: Dataset, first: date) -> set[str]:
    days, ids = _indexed(data, "last purchase", data.purchases, _by_last_purchase)
    return set(ids[bisect_left(days, first) :])


def _month_days(dates: DateRange, lead_days: int) -> set[MonthDay] | None:
    """The months and days of the occasions that fire on `dates`, `lead_days` ahead; Feb 29
    whenever Feb 28 or Mar 1 is among them (where a common year keeps it, by policy)."""
    if dates.last - dates.first >= WHOLE_YEAR:
        return None
    lead, days = timedelta(days=lead_days), set()
    day = dates.first
    while day <= dates.last:
        try:
            occasion = day + lead
        except OverflowError:
            return None
        days.add((occasion.month, occasion.day))
        day += timedelta(days=1)
    if days & {(2, 28), (3, 1)}:
        days.add(FEB29)
    return days


Index = Any


def _indexed(data: Dataset, name: str, source: Any, build: Callable[[Any], Index]) -> Index:
    """The index `name` of `source` (the data's contacts or purchases), built at its first
    use and kept for as long as the data holds that same source."""
    kept = data.indexes.get(name)
    if kept is None or kept[0] is not source:  # built from other data
        kept = (source, build(source))
        data.indexes[name] = kept
    return kept[1]


def keep_indexes(before: Dataset, after: Dataset) -> None:
    """Give `after` the indexes of `before` that were built from data `after` still holds (a
    reload that kept the contacts keeps their lookups); the others are built again at use."""
    held = (after.contacts, after.purchases)
    for name, kept in before.indexes.items():
        if any(kept[0] is source for source in held):
            after.indexes.setdefault(name, kept)


def _by_company(contacts: Mapping[str, Contact]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for contact in contacts.values():
        if contact.company_id is not None:
            index.setdefault(contact.company_id, []).append(contact.id)
    return index


def _by_last_purchase(
    purchases: Mapping[str, tuple[Purchase, ...]],
) -> tuple[list[date], list[str]]:
    dated = sorted((bought[-1].date, contact) for contact, bought in purchases.items() if bought)
    return [day for day, _ in dated], [contact for _, contact in dated]


def _by_birthday(contacts: Mapping[str, Contact]) -> dict[MonthDay, list[str]]:
    index: dict[MonthDay, list[str]] = {}
    for contact in contacts.values():
        if contact.birthday is not None:
            day = (contact.birthday.month, contact.birthday.day)
            index.setdefault(day, []).append(contact.id)
    return index


def _by_month_day(field: str) -> Callable[[Mapping[str, Contact]], dict[MonthDay, list[str]]]:
    def build(contacts: Mapping[str, Contact]) -> dict[MonthDay, list[str]]:
        index: dict[MonthDay, list[str]] = {}
        for contact in contacts.values():
            start = date_field(contact, field)
            if isinstance(start, date):
                index.setdefault((start.month, start.day), []).append(contact.id)
        return index

    return build


def _by_date(field: str) -> Callable[[Mapping[str, Contact]], tuple[list[date], list[str]]]:
    def build(contacts: Mapping[str, Contact]) -> tuple[list[date], list[str]]:
        dated = sorted(
            (day, contact.id)
            for contact in contacts.values()
            if isinstance(day := date_field(contact, field), date)
        )
        return [day for day, _ in dated], [contact for _, contact in dated]

    return build


_LOOKUPS: dict[str, Callable[[Any, Dataset, DateRange], Collection[str] | None]] = {
    "birthday": _birthday,
    "anniversary": _anniversary,
    "date": _on_date,
    "purchase_milestone": _milestone,
    "inactivity": _inactivity,
    "loyalty_stage": _loyalty_stage,
    "news_mention": _news_mention,
}
