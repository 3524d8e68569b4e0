"""Yearly on the anniversary of a date column (default `customer_since`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from outreach.core.model import Occurrence
from outreach.core.rules import Anniversary
from outreach.core.timing import DateRange, month_day
from outreach.core.triggers import Subject, date_field
from outreach.core.wording import counted


def occurrences(params: Anniversary, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    start = date_field(subject.contact, params.field)
    if not isinstance(start, date):
        return
    lead = timedelta(days=params.lead_days)
    for year in range(max(dates.first.year, start.year + 1), dates.last.year + 2):
        years = year - start.year
        if params.years is not None and years not in params.years:
            continue
        day = month_day(year, start.month, start.day, params.feb29)
        if day is None or day - lead not in dates:
            continue
        yield Occurrence(
            key=str(year),
            date=day,
            fire_date=day - lead,
            details={
                "kind": "anniversary",
                "date": day,
                "years": years,
                "field": params.field,
                "since": start,
            },
        )


def describe(params: Anniversary, subject: Subject) -> str:
    start = date_field(subject.contact, params.field)
    if not isinstance(start, date):
        return start
    which = (
        f"years {', '.join(map(str, params.years))}" if params.years is not None else "every year"
    )
    text = f"{params.field} {start.isoformat()}; {which}"
    if params.lead_days:
        text += f"; fires {counted(params.lead_days, 'day')} before"
    return text
