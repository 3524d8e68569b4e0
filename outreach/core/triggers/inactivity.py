"""When the last purchase is `days` old."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from outreach.core.model import Occurrence
from outreach.core.rules import Inactivity
from outreach.core.timing import DateRange
from outreach.core.triggers import Subject
from outreach.core.views import purchase_view
from outreach.core.wording import counted


def occurrences(params: Inactivity, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    if not subject.purchases:
        return
    last = subject.purchases[-1]
    day = last.date + timedelta(days=params.days)
    if day in dates:
        yield Occurrence(
            key=f"after-{last.date.isoformat()}",  # not the id: same-day rows may reorder
            date=day,
            fire_date=day,
            details={
                "kind": "inactivity",
                "date": day,
                "days": params.days,
                "last_purchase": purchase_view(last),
            },
        )


def describe(params: Inactivity, subject: Subject) -> str:
    if not subject.purchases:
        return "no purchases yet, so never inactive"
    last = subject.purchases[-1]
    quiet = (subject.today - last.date).days
    due = last.date + timedelta(days=params.days)
    silence = counted(params.days, "day")
    return f"last purchase {last.date} ({counted(quiet, 'day')} ago); {silence} of silence on {due}"
