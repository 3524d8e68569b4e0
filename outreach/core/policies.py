"""Send policies as pure functions: suppression, catch-up window, frequency cap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from outreach.core.addresses import addresses_in, suppression_key
from outreach.core.config import FrequencyCap
from outreach.core.display import local_time
from outreach.core.model import Contact, Dataset, Decision, Status
from outreach.core.outbox import State
from outreach.core.rules import Money, YearlyGiftLimit
from outreach.core.timing import QuietHours, zone
from outreach.core.wording import counted

# Actions that reach the client and so count against the frequency cap; tasks for the
# account manager do not.
COUNTED_ACTIONS = frozenset({"email", "gift"})


@dataclass(frozen=True, slots=True)
class GiftSpend:
    """A gift already decided on, for yearly limits: the year it ships and its budget."""

    rule_id: str
    contact_id: str
    year: int
    budget: Money


@dataclass(frozen=True, slots=True)
class History:
    """What the store already holds: occurrence keys recorded, per contact the times of
    emails and gifts sent or scheduled (they count against the frequency cap), and the gifts
    that count against yearly limits."""

    recorded: frozenset[str] = frozenset()
    sends: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)
    gifts: tuple[GiftSpend, ...] = ()


def suppression(contact: Contact, data: Dataset) -> str | None:
    """Why this contact must not be written to, or None."""
    return contact.withheld or opted_out(contact, data)


def opted_out(contact: Contact, data: Dataset) -> str | None:
    """Why this contact said no, or may have: an opt-out, or any address their email cell
    mentions — usable or not — on the suppression list or opted out elsewhere."""
    if contact.opted_out:
        return "opted out"
    written = addresses_in(contact.fields.get("email", ""))
    for address in (contact.email, *written):
        if blocked := address_blocked(address, data):
            return blocked
    return None


def address_blocked(address: str | None, data: Dataset) -> str | None:
    """Why this address must not be written to, however it is spelled, or None."""
    if not address:
        return None
    key = suppression_key(address)
    why = data.do_not_write.get(key) or data.do_not_write.get("@" + key.rpartition("@")[2])
    return f"{address} is {why}" if why else None


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a due action does not go now: `status` it ends in (cancelled, late), or None to
    wait — until `until` (quiet hours), or until the data is sound again."""

    status: State | None
    reason: str
    until: datetime | None = None


def hold_at_send_time(
    contact_id: str,
    action: str,
    to: str | None,
    deadline: datetime | None,
    now: datetime,
    data: Dataset,
    quiet: QuietHours | None,
    default_zone: str,
) -> Hold | None:
    """Whether a due action must not go now. Opt-outs and the suppression list are read
    again from today's data, not trusted from planning time, and win over everything; a
    contact missing from the data, or withheld (an ambiguous row), is waited for until its
    catch-up window closes: never written to, never given up on for that alone."""
    contact = data.contacts.get(contact_id)
    blocked = opted_out(contact, data) if contact is not None else None
    if blocked is None and action == "email":
        blocked = address_blocked(to, data)
    if blocked is not None:
        return Hold(State.CANCELLED, f"{blocked} (checked at send time)")
    if deadline is not None and now > deadline:
        when = local_time(deadline, zone((contact.timezone if contact else None) or default_zone))
        return Hold(State.LATE, f"not sent by {when}, the end of its catch-up window")
    if contact is None:
        return Hold(None, f"contact {contact_id} is not in the contacts file; it waits")
    if contact.withheld:  # fixing the contacts file lifts it
        return Hold(None, f"{contact.withheld}; it waits")
    if action == "email" and not contact.email:  # gone, or no longer usable, since planning
        return Hold(None, "the contact's email address is gone or cannot be used; it waits")
    if quiet is not None and action == "email":  # a note must not ping a phone at night
        local = now.astimezone(zone(contact.timezone or default_zone))
        later = quiet.defer(local)
        if later != local:
            return Hold(None, "quiet hours where the client is", later.astimezone(now.tzinfo))
    return None


class Timing(StrEnum):
    AHEAD = "ahead"  # the send time is still to come
    DUE = "due"  # it passed, but within the catch-up window: send at once
    LATE = "late"  # it passed too long ago: never send


def timing(scheduled: datetime, now: datetime, late_by_at_most: timedelta) -> Timing:
    if scheduled >= now:
        return Timing.AHEAD
    # Exactly `late_by_at_most` ago is not yet "older": still due.
    return Timing.DUE if now - scheduled <= late_by_at_most else Timing.LATE


def apply_frequency_cap(
    decisions: Sequence[Decision], cap: FrequencyCap | None, history: History
) -> list[Decision]:
    """At most `cap.count` emails and gifts per contact in any `cap.days` window: higher
    priority is kept first, then the earlier; the rest become `capped`."""
    if cap is None:
        return list(decisions)
    window = timedelta(days=cap.days).total_seconds()
    by_contact: dict[str, list[int]] = {}
    for index, decision in enumerate(decisions):
        if decision.action in COUNTED_ACTIONS and decision.status in (
            Status.PLANNED,
            Status.NEEDS_APPROVAL,
        ):
            by_contact.setdefault(decision.contact_id, []).append(index)
    result = list(decisions)
    for contact_id, indexes in by_contact.items():
        # Instants as POSIX seconds: a window is real hours, also across a DST change.
        kept = [moment.timestamp() for moment in history.sends.get(contact_id, ())]
        kept_rules: list[str] = []
        for index in sorted(indexes, key=lambda i: _precedence(decisions[i])):
            decision = decisions[index]
            moment = decision.send_at.timestamp()
            if _fits(kept, moment, window, cap.count):
                kept.append(moment)
                kept_rules.append(decision.rule_id)
                continue
            result[index] = replace(
                decision,
                status=Status.CAPPED,
                reason=f"frequency cap: at most {cap.count} per {counted(cap.days, 'day')}"
                + (f"; kept first: {', '.join(sorted(set(kept_rules)))}" if kept_rules else ""),
            )
    return result


def _precedence(decision: Decision) -> tuple[int, float, str]:
    return -decision.priority, decision.send_at.timestamp(), decision.rule_id


def _fits(kept: Iterable[float], moment: float, window: float, limit: int) -> bool:
    """Would adding `moment` keep every window of this length at `limit` sends or fewer?"""
    times = sorted([*kept, moment])
    for start in times:
        if start > moment or moment - start >= window:
            continue  # only windows that contain `moment` change
        if sum(1 for t in times if start <= t < start + window) > limit:
            return False
    return True


@dataclass(frozen=True, slots=True)
class GiftLimit:
    limit: YearlyGiftLimit
    currency: str


def apply_gift_limits(
    decisions: Sequence[Decision],
    limits: Mapping[str, GiftLimit],
    company_of: Mapping[str, str | None],
    history: History,
) -> list[Decision]:
    """A gift that would take its rule's spend for a contact or company in a calendar year
    past `max_per_year` is held for a person to approve, with the sums in the reason."""
    spent: dict[tuple[str, str, str, int], Decimal] = {}

    def add(rule_id: str, contact_id: str, year: int, amount: Decimal) -> None:
        for scope, who in (("contact", contact_id), ("company", company_of.get(contact_id))):
            if who:
                slot = (rule_id, scope, who, year)
                spent[slot] = spent.get(slot, Decimal(0)) + amount

    for gift in history.gifts:
        rule_limit = limits.get(gift.rule_id)
        if rule_limit and gift.budget.currency == rule_limit.currency:
            add(gift.rule_id, gift.contact_id, gift.year, gift.budget.amount)
    result = list(decisions)
    for index, decision in enumerate(decisions):
        rule_limit = limits.get(decision.rule_id)
        if rule_limit is None or decision.status not in (Status.PLANNED, Status.NEEDS_APPROVAL):
            continue
        amount = Decimal(str(decision.details["budget"]["amount"]))
        year = int(str(decision.details["ship_by"])[:4])
        over = _over_limit(decision, rule_limit, company_of, spent, amount, year)
        if over:
            result[index] = replace(decision, status=Status.NEEDS_APPROVAL, reason=over)
        else:
            add(decision.rule_id, decision.contact_id, year, amount)
    return result


def _over_limit(
    decision: Decision,
    rule_limit: GiftLimit,
    company_of: Mapping[str, str | None],
    spent: Mapping[tuple[str, str, str, int], Decimal],
    amount: Decimal,
    year: int,
) -> str | None:
    scopes = (
        ("contact", decision.contact_id, rule_limit.limit.per_contact),
        ("company", company_of.get(decision.contact_id), rule_limit.limit.per_company),
    )
    for scope, who, limit in scopes:
        if limit is None or not who:
            continue
        total = spent.get((decision.rule_id, scope, who, year), Decimal(0)) + amount
        if total > limit:
            currency = rule_limit.currency
            return (
                f"held: gift limit per {scope} — with this one, {decision.rule_id} would spend "
                f"{total} {currency} on {scope} {who} in {year} "
                f"(max_per_year.per_{scope}: {limit} {currency})"
            )
    return None
