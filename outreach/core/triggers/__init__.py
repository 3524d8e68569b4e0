"""Trigger kinds. Each module is a pure function of a contact's facts and a date range:

    occurrences(params, subject, dates) -> Iterator[Occurrence]   # fire dates within `dates`
    describe(params, subject) -> str                              # what it sees, for `explain`

`KINDS` maps the name used in rule files to the module's functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from outreach.core.model import Contact, Dataset, Occurrence, Purchase
from outreach.core.timing import check_date


@dataclass(slots=True)  # not frozen: one is made per contact, and frozen ones build slower
class Subject:
    """One contact and everything a trigger may look at, as of `now`."""

    contact: Contact
    data: Dataset
    now: datetime  # in the contact's time zone
    purchases: tuple[Purchase, ...]  # the contact's, oldest first

    @classmethod
    def of(cls, contact: Contact, data: Dataset, now: datetime) -> Subject:
        return cls(contact, data, now, data.purchases.get(contact.id, ()))

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass(frozen=True, slots=True)
class TriggerKind:
    occurrences: Callable[[Any, Subject, Any], Iterator[Occurrence]]
    describe: Callable[[Any, Subject], str]


def date_field(contact: Contact, field: str) -> date | str:
    """The date in column `field`, or a reason why there is none. Columns the rules read
    were parsed and range-checked on loading (`contact.dates`); any other is read here,
    under the same check."""
    if field == "customer_since" and contact.customer_since is not None:
        return contact.customer_since
    if field in contact.dates:
        return contact.dates[field]
    text = contact.fields.get(field)
    if text is None:
        return f"no column '{field}'"
    if not text:
        return f"{field} is empty"
    try:
        return check_date(date.fromisoformat(text))
    except ValueError:
        return f"{field} '{text}' is not a date between the years 1800 and 2999 (YYYY-MM-DD)"


def _registry() -> dict[str, TriggerKind]:
    from outreach.core.triggers import (
        anniversary,
        birthday,
        fixed_date,
        inactivity,
        loyalty_stage,
        news_mention,
        purchase_milestone,
    )

    modules = {
        "birthday": birthday,
        "anniversary": anniversary,
        "date": fixed_date,
        "purchase_milestone": purchase_milestone,
        "inactivity": inactivity,
        "loyalty_stage": loyalty_stage,
        "news_mention": news_mention,
    }
    return {name: TriggerKind(m.occurrences, m.describe) for name, m in modules.items()}


KINDS = _registry()
