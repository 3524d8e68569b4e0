"""Once, `offset_days` after (or before) a date column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from outreach.core.model import Occurrence
from outreach.core.rules import OnDate
from outreach.core.timing import DateRange
from outreach.core.triggers import Subject, date_field
from outreach.core.wording import signed


def occurrences(params: OnDate, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    base = date_field(subject.contact, params.field)
    if not isinstance(base, date):
        return
    day = base + timedelta(days=params.offset_days)
    if day in dates:
        yield Occurrence(
            key=day.isoformat(),
            date=day,
            fire_date=day,
            details={"kind": "date", "date": day, "field": params.field, "value": base},
        )


def describe(params: OnDate, subject: Subject) -> str:
    base = date_field(subject.contact, params.field)
    if not isinstance(base, date):
        return base
    day = base + timedelta(days=params.offset_days)
    offset = signed(params.offset_days, "day")
    return f"{params.field} {base.isoformat()} {offset} -> {day.isoformat()}"
