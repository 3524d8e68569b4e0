"""Yearly, on the birthday in the contact's time zone, `lead_days` before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from outreach.core.model import Occurrence
from outreach.core.rules import Birthday
from outreach.core.timing import DateRange, month_day
from outreach.core.triggers import Subject
from outreach.core.wording import counted

FEB29 = {"feb28": "on Feb 28", "mar1": "on Mar 1", "skip": "not at all"}


def occurrences(params: Birthday, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    birthday = subject.contact.birthday
    if birthday is None:
        return
    lead = timedelta(days=params.lead_days)
    # A lead reaching back over New Year puts the occasion in the year after the range.
    for year in range(dates.first.year, dates.last.year + 2):
        if birthday.year is not None and year <= birthday.year:
            continue
        day = month_day(year, birthday.month, birthday.day, params.feb29)
        if day is None or day - lead not in dates:
            continue
        age = year - birthday.year if birthday.year is not None else None
        yield Occurrence(
            key=str(year),
            date=day,
            fire_date=day - lead,
            details={"kind": "birthday", "date": day, "age": age},
        )


def describe(params: Birthday, subject: Subject) -> str:
    birthday = subject.contact.birthday
    if birthday is None:
        return "no birthday on file"
    written = f"{birthday.month:02d}-{birthday.day:02d}"
    text = (
        f"birthday {birthday.year}-{written}"
        if birthday.year
        else (f"birthday {written} (year unknown, so no age)")
    )
    if (birthday.month, birthday.day) == (2, 29):
        text += f"; in common years celebrated {FEB29[params.feb29]} (feb29: {params.feb29})"
    if params.lead_days:
        text += f"; fires {counted(params.lead_days, 'day')} before"
    return text
