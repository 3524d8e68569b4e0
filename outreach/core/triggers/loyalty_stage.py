"""When a contact enters a loyalty stage.

prospect: no purchase yet (entered when first seen); first_time_customer: the first purchase;
repeat_customer: the second; client: the purchase that reaches `client.count` purchases or
`client.lifetime_total`, whichever comes first; advocate: the first purchase of someone the
contact referred.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from outreach.core.model import Contact, Occurrence, Purchase
from outreach.core.rules import LoyaltyStage
from outreach.core.timing import DateRange
from outreach.core.triggers import Subject
from outreach.core.views import contact_view, purchase_view

Entry = tuple[date, Callable[[], dict[str, Any]]]  # when, and what to tell templates


def stage_entries(params: LoyaltyStage, subject: Subject) -> dict[str, Entry]:
    """Each stage the contact has entered: its date, and its details (built only if asked)."""
    purchases = subject.purchases
    entries: dict[str, Entry] = {}
    if not purchases:
        entries["prospect"] = (subject.today, dict)
    for stage, index in (("first_time_customer", 0), ("repeat_customer", 1)):
        if len(purchases) > index:
            entries[stage] = _bought(purchases[index])
    client = _client_index(params, subject)
    if client is not None:
        entries["client"] = _bought(purchases[client])
    advocate = _first_referral_purchase(subject)
    if advocate is not None:
        entries["advocate"] = advocate
    return entries


def _bought(purchase: Purchase) -> Entry:
    return purchase.date, lambda: {"purchase": purchase_view(purchase)}


def occurrences(params: LoyaltyStage, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    purchases = subject.purchases
    referrals = subject.data.referrals.get(subject.contact.id)
    if purchases and not referrals and dates.starts_after(purchases[-1].date):
        return  # every stage this contact can still enter was entered before the range
    entries = stage_entries(params, subject)
    for stage in params.to:
        if stage in entries and entries[stage][0] in dates:
            day, details = entries[stage]
            yield Occurrence(
                key=stage,
                date=day,
                fire_date=day,
                known_from=day,
                details={"kind": "loyalty_stage", "date": day, "stage": stage, **details()},
            )


def _client_index(params: LoyaltyStage, subject: Subject) -> int | None:
    count, limit = params.client.count, params.client.lifetime_total
    total = Decimal(0)
    for index, purchase in enumerate(subject.purchases):
        total += purchase.amount
        if (count is not None and index + 1 >= count) or (limit is not None and total >= limit):
            return index
    return None


def _first_referral_purchase(subject: Subject) -> Entry | None:
    first: tuple[date, Contact, Purchase] | None = None
    for referred in subject.data.referrals.get(subject.contact.id, ()):
        bought = subject.data.purchases.get(referred.id)
        if bought and (first is None or bought[0].date < first[0]):
            first = (bought[0].date, referred, bought[0])
    if first is None:
        return None
    day, referred, purchase = first
    return day, lambda: {
        "referred": contact_view(referred, referred.timezone or "", referred.locale or ""),
        "purchase": purchase_view(purchase),
    }


def describe(params: LoyaltyStage, subject: Subject) -> str:
    entries = stage_entries(params, subject)
    seen = ", ".join(f"{stage} since {day}" for stage, (day, _) in entries.items()) or "no stage"
    waiting = [stage for stage in params.to if stage not in entries]
    text = f"stages: {seen}"
    if waiting:
        text += f"; not yet {', '.join(waiting)}"
    return text
