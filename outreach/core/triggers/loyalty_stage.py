"""When a contact enters a loyalty stage.

prospect: no purchase yet (entered when first seen); first_time_customer: the first purchase;
repeat_customer: the second; client: the purchase that reaches `client.count` purchases or
`client.lifetime_total`, whichever comes first; advocate: the first purchase of someone the
contact referred.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from outreach.core.model import Occurrence
from outreach.core.rules import LoyaltyStage
from outreach.core.timing import DateRange
from outreach.core.triggers import Subject
from outreach.core.views import contact_view, purchase_view


def stage_entries(params: LoyaltyStage, subject: Subject) -> dict[str, tuple[date, dict[str, Any]]]:
    """Each stage the contact has entered: (date, details)."""
    purchases = subject.purchases
    entries: dict[str, tuple[date, dict[str, Any]]] = {}
    if not purchases:
        entries["prospect"] = (subject.today, {})
    for stage, index in (("first_time_customer", 0), ("repeat_customer", 1)):
        if len(purchases) > index:
            entries[stage] = (purchases[index].date, {"purchase": purchase_view(purchases[index])})
    client = _client_index(params, subject)
    if client is not None:
        entries["client"] = (purchases[client].date, {"purchase": purchase_view(purchases[client])})
    advocate = _first_referral_purchase(subject)
    if advocate is not None:
        entries["advocate"] = advocate
    return entries


def occurrences(params: LoyaltyStage, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    entries = stage_entries(params, subject)
    for stage in params.to:
        if stage in entries and entries[stage][0] in dates:
            day, details = entries[stage]
            yield Occurrence(
                key=stage,
                date=day,
                fire_date=day,
                known_from=day,
                details={"kind": "loyalty_stage", "date": day, "stage": stage, **details},
            )


def _client_index(params: LoyaltyStage, subject: Subject) -> int | None:
    count, limit = params.client.count, params.client.lifetime_total
    total = Decimal(0)
    for index, purchase in enumerate(subject.purchases):
        total += purchase.amount
        if (count is not None and index + 1 >= count) or (limit is not None and total >= limit):
            return index
    return None


def _first_referral_purchase(subject: Subject) -> tuple[date, dict[str, Any]] | None:
    best: tuple[date, dict[str, Any]] | None = None
    for referred in subject.data.referrals.get(subject.contact.id, ()):
        bought = subject.data.purchases.get(referred.id)
        if bought and (best is None or bought[0].date < best[0]):
            view = contact_view(referred, referred.timezone or "", referred.locale or "")
            best = (bought[0].date, {"referred": view, "purchase": purchase_view(bought[0])})
    return best


def describe(params: LoyaltyStage, subject: Subject) -> str:
    entries = stage_entries(params, subject)
    seen = ", ".join(f"{stage} since {day}" for stage, (day, _) in entries.items()) or "no stage"
    waiting = [stage for stage in params.to if stage not in entries]
    text = f"stages: {seen}"
    if waiting:
        text += f"; not yet {', '.join(waiting)}"
    return text
