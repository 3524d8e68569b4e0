"""When a purchase crosses a milestone: the Nth purchase, a lifetime total, or a single
purchase above an amount; optionally only purchases whose product matches a glob."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from fnmatch import fnmatchcase

from outreach.core.model import Occurrence, Purchase
from outreach.core.rules import PurchaseMilestone
from outreach.core.timing import DateRange
from outreach.core.triggers import Subject
from outreach.core.views import purchase_view


def occurrences(
    params: PurchaseMilestone, subject: Subject, dates: DateRange
) -> Iterator[Occurrence]:
    bought = subject.purchases
    if not bought or dates.starts_after(bought[-1].date):
        return  # every milestone a purchase could cross lies before the range
    purchases = _matching(params, bought)
    if params.count is not None:
        for n in params.count:
            if len(purchases) >= n and purchases[n - 1].date in dates:
                yield _occurrence(f"count-{n}", "count", n, purchases, n - 1)
    if params.lifetime_total is not None:
        for threshold, index in _crossings(purchases, params.lifetime_total):
            if purchases[index].date in dates:
                yield _occurrence(
                    f"total-{_plain(threshold)}", "lifetime_total", threshold, purchases, index
                )
    if params.single_amount_over is not None:
        start = bisect_left(purchases, dates.first, key=_date_of)  # oldest first
        for index in range(start, len(purchases)):
            purchase = purchases[index]
            if purchase.amount > params.single_amount_over and purchase.date in dates:
                yield _occurrence(
                    f"purchase-{purchase.id}",
                    "single_amount_over",
                    params.single_amount_over,
                    purchases,
                    index,
                )


def _plain(amount: Decimal) -> str:
    """1000, 1000.0 and 1E+3 are one milestone: one key."""
    return format(amount.normalize(), "f")


def _date_of(purchase: Purchase) -> date:
    return purchase.date


def _matching(params: PurchaseMilestone, purchases: Sequence[Purchase]) -> Sequence[Purchase]:
    if params.product is None:
        return purchases
    pattern = params.product.lower()
    return [p for p in purchases if fnmatchcase(p.product.lower(), pattern)]


def _crossings(
    purchases: Sequence[Purchase], thresholds: Sequence[Decimal]
) -> Iterator[tuple[Decimal, int]]:
    """(threshold, index of the purchase whose running total first reaches it)."""
    pending = sorted(thresholds)
    total = Decimal(0)
    for index, purchase in enumerate(purchases):
        total += purchase.amount
        while pending and total >= pending[0]:
            yield pending.pop(0), index
        if not pending:
            return


def _occurrence(
    key: str, kind: str, value: object, purchases: Sequence[Purchase], index: int
) -> Occurrence:
    purchase = purchases[index]
    total = sum((p.amount for p in purchases[: index + 1]), Decimal(0))
    return Occurrence(
        key=key,
        date=purchase.date,
        fire_date=purchase.date,
        known_from=purchase.date,
        details={
            "kind": "purchase_milestone",
            "date": purchase.date,
            "milestone": {"kind": kind, "value": value},
            "purchase": purchase_view(purchase),
            "count": index + 1,
            "total": total,
        },
    )


def describe(params: PurchaseMilestone, subject: Subject) -> str:
    purchases = _matching(params, subject.purchases)
    scope = f" matching '{params.product}'" if params.product else ""
    total = sum((p.amount for p in purchases), Decimal(0))
    seen = f"{len(purchases)} purchases{scope}, total {total}"
    if params.count is not None:
        parts = [
            f"count {n} reached {purchases[n - 1].date}"
            if len(purchases) >= n
            else f"count {n}: {n - len(purchases)} to go"
            for n in params.count
        ]
    elif params.lifetime_total is not None:
        reached = dict(_crossings(purchases, params.lifetime_total))
        parts = [
            f"total {t} reached {purchases[reached[t]].date}"
            if t in reached
            else f"total {t}: {t - total} to go"
            for t in params.lifetime_total
        ]
    else:
        over = [p for p in purchases if p.amount > (params.single_amount_over or 0)]
        parts = [f"{len(over)} purchases over {params.single_amount_over}"]
        if over:
            parts[0] += f", the latest {over[-1].date}"
    return f"{seen}; " + "; ".join(parts)
