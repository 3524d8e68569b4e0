"""plan(rules, data, now, until) -> decisions: deterministic, idempotent, pure.

For every rule and contact, the trigger yields occurrences; each becomes a candidate with
a send time (the rule's `schedule.at`, wall clock in the contact's zone, moved out of quiet
hours). A candidate whose `when:` is false is dropped; the rest become decisions, with
status by precedence: suppressed, late, error (rendering), capped, needs_approval, planned.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from outreach.core.actions import Draft, action_details, check_action, check_message
from outreach.core.config import Config
from outreach.core.display import local_time
from outreach.core.due import due_contacts
from outreach.core.keys import TRIGGER_FAILED, occurrence_key
from outreach.core.model import Contact, Dataset, Decision, Occurrence, Owner, Status
from outreach.core.policies import (
    GiftLimit,
    History,
    Timing,
    apply_frequency_cap,
    apply_gift_limits,
    suppression,
    timing,
)
from outreach.core.rendering import Condition, RenderError, Templates
from outreach.core.rules import ACTION_CHANNELS, GiftAction, Rule
from outreach.core.timing import (
    DateRange,
    QuietHours,
    format_duration,
    local_dates,
    wall_clock,
    zone,
)
from outreach.core.triggers import KINDS, Subject
from outreach.core.views import company_view, contact_view, owner_view

UTC_ZONE = ZoneInfo("UTC")
# A missed occasion stays listed (as `late`) this long after its catch-up window closed.
LATE_LISTED = timedelta(days=7)


@dataclass
class Candidate:
    """One occurrence of one rule for one contact, timed, before policies apply."""

    rule: Rule
    contact: Contact
    occurrence: Occurrence
    due_date: date  # local date the action is due (after lead and shipping days)
    scheduled: datetime  # when it should go, in the contact's zone
    send_at: datetime  # when it would go: `scheduled`, or now when catching up
    timing: Timing
    now: datetime
    data: Dataset
    locale: str
    owner: Owner | None

    @property
    def key(self) -> str:
        return occurrence_key(self.rule.id, self.contact.id, self.occurrence.key)

    @cached_property
    def variables(self) -> dict[str, Any]:
        """What templates and `when:` see."""
        tz = self.scheduled.tzinfo
        assert isinstance(tz, ZoneInfo)
        company = self.data.companies.get(self.contact.company_id or "")
        return {
            "contact": contact_view(self.contact, tz.key, self.locale),
            "company": company_view(company),
            "owner": owner_view(self.owner),
            "occasion": dict(self.occurrence.details),
            "now": self.now.astimezone(tz),
            "rule": {"id": self.rule.id, "description": self.rule.description},
        }


def soonest_ahead(candidate: Candidate) -> tuple[bool, datetime]:
    """Sort key: occasions still to come first, the soonest first; missed (late) ones after."""
    return candidate.timing is Timing.LATE, candidate.send_at


@dataclass(frozen=True)
class Engine:
    """The rules of a workspace, ready to plan against data."""

    config: Config
    rules: tuple[Rule, ...]
    templates: Templates
    conditions: Mapping[str, Condition]

    def plan(
        self,
        data: Dataset,
        now: datetime,
        until: datetime,
        history: History | None = None,
        contacts: Container[str] | None = None,
        rules: Collection[str] | None = None,
    ) -> list[Decision]:
        """`contacts`: the ids planned for (a few named, or a filter such as a daemon's
        planning shards); None: everyone. Never raises for what the data, the feeds or the
        store hold: whatever fails for one occurrence becomes that one decision's `error`,
        and the rest is planned."""
        history = history or History()
        now, until = now.astimezone(UTC), until.astimezone(UTC)  # see `candidates`
        self._fresh_allowances()
        drafts: list[Decision] = []
        for item in self.candidates(data, now, until, contacts, rules):
            if item.key in history.recorded:
                continue
            decision = item if isinstance(item, Decision) else self.evaluate(item)
            if decision is not None:
                drafts.append(decision)
        capped = apply_frequency_cap(drafts, self.config.policies.max_per_contact, history)
        capped.sort(key=_order)  # gift limits are spent in the order gifts go
        return self._limit_gifts(capped, data, history)

    def _fresh_allowances(self) -> None:
        """Each pass gives a template or `when:` that keeps running into its limits its
        allowance of lost time again (see `outreach.core.limits.Losses`)."""
        self.templates.forget_losses()
        for condition in self.conditions.values():
            condition.losses.forget()

    def evaluate(self, candidate: Candidate) -> Decision | None:
        """The decision for a candidate, before caps and limits; None when its `when:` is
        false. Never raises: a surprise is this candidate's `error`."""
        try:
            verdict = self.condition(candidate)
            return None if verdict is False else self.decide(candidate, verdict)
        except Exception as exc:  # a surprise in one occurrence is that occurrence's error
            return self.failed(
                candidate.rule, candidate.contact, candidate.key, now=candidate.now, exc=exc
            )

    def failed(
        self, rule: Rule, contact: Contact, key: str, now: datetime, exc: BaseException
    ) -> Decision:
        """An `error` decision for an occurrence that could not be planned."""
        return Decision(
            rule_id=rule.id,
            contact_id=contact.id,
            action=rule.action.kind,
            channel=ACTION_CHANNELS[rule.action.kind],
            send_at=self._recipients(now, contact).replace(microsecond=0),
            key=key,
            status=Status.ERROR,
            priority=rule.priority,
            reason=f"cannot plan it from this contact's data: {_described(exc)}",
        )

    def _recipients(self, moment: datetime, contact: Contact) -> datetime:
        """`moment` on the contact's clock, as every decision's `send_at` is."""
        try:
            return moment.astimezone(zone(contact.timezone or self.config.timezone))
        except Exception:  # this one error decision must still be made
            return moment

    def _limit_gifts(
        self, decisions: list[Decision], data: Dataset, history: History
    ) -> list[Decision]:
        limits = {
            rule.id: GiftLimit(params.max_per_year, params.budget.currency)
            for rule in self.rules
            if isinstance(params := rule.action.params, GiftAction)
            and params.max_per_year is not None
            and params.budget is not None
        }
        if not limits:
            return decisions
        company_of = {
            d.contact_id: data.contacts[d.contact_id].company_id
            for d in decisions
            if d.contact_id in data.contacts
        }
        for gift in history.gifts:
            contact = data.contacts.get(gift.contact_id)
            company_of.setdefault(gift.contact_id, contact.company_id if contact else None)
        return apply_gift_limits(decisions, limits, company_of, history)

    def candidates(
        self,
        data: Dataset,
        now: datetime,
        until: datetime,
        contacts: Container[str] | None = None,
        rules: Collection[str] | None = None,
    ) -> Iterator[Candidate | Decision]:
        """Every occurrence of the chosen rules for the chosen contacts, timed; what cannot
        be evaluated comes as an `error` decision instead (see `plan`)."""
        # In UTC: aware datetimes that share a tzinfo compare and subtract by wall clock,
        # which is wrong across a DST change; against UTC they compare as instants.
        now, until = now.astimezone(UTC), until.astimezone(UTC)
        # Resolved once, not per contact: pydantic attribute access is slow in a hot loop.
        chosen = [
            (rule, KINDS[rule.trigger.kind].occurrences, rule.trigger.params)
            for rule in self.rules
            if rule.enabled and (rules is None or rule.id in rules)
        ]
        # Only who may fall due: each rule's contacts are looked up, not asked of everyone.
        due = [
            due_contacts(rule, data, self._dates(rule, now, until, UTC_ZONE)) for rule, *_ in chosen
        ]
        named = contacts if isinstance(contacts, Collection) else None  # else a filter
        people = (
            data.contacts.values()
            if named is None
            else [data.contacts[c] for c in named if c in data.contacts]
        )
        if all(ids is not None for ids in due):
            anyone = set().union(*(ids for ids in due if ids is not None))
            people = [contact for contact in people if contact.id in anyone]
        if contacts is not None and named is None:  # hashed only for who may fall due
            people = [contact for contact in people if contact.id in contacts]
        # Per time zone: its `now`, and each rule's range of local dates.
        zones: dict[str, tuple[ZoneInfo, datetime, list[DateRange]]] = {}
        for contact in people:
            name = contact.timezone or self.config.timezone
            if name not in zones:
                tz = zone(name)
                spans = [self._dates(rule, now, until, tz) for rule, _, _ in chosen]
                zones[name] = (tz, now.astimezone(tz), spans)
            tz, here, spans = zones[name]
            subject = Subject.of(contact, data, here)
            for (rule, occurrences, params), span, ids in zip(chosen, spans, due, strict=True):
                if ids is not None and contact.id not in ids:
                    continue
                try:
                    found = list(occurrences(params, subject, span))
                except Exception as exc:
                    key = occurrence_key(rule.id, contact.id, TRIGGER_FAILED)
                    yield self.failed(rule, contact, key, now, exc)
                    continue
                yield from self._timed_all(rule, subject, found, tz, now, until)

    def _timed_all(
        self,
        rule: Rule,
        subject: Subject,
        found: list[Occurrence],
        tz: ZoneInfo,
        now: datetime,
        until: datetime,
    ) -> Iterator[Candidate | Decision]:
        for occurrence in found:
            try:
                candidate = self._timed(rule, subject, occurrence, tz, now)
            except Exception as exc:
                key = occurrence_key(rule.id, subject.contact.id, occurrence.key)
                yield self.failed(rule, subject.contact, key, now, exc)
                continue
            if candidate is not None and candidate.scheduled < until:
                yield candidate

    def _dates(self, rule: Rule, now: datetime, until: datetime, tz: ZoneInfo) -> DateRange:
        earliest = now - rule.schedule.late_by_at_most - LATE_LISTED
        span = local_dates(earliest, until, tz)
        return DateRange(span.first, span.last + timedelta(days=_ship_days(rule)))

    def _timed(
        self, rule: Rule, subject: Subject, occurrence: Occurrence, tz: ZoneInfo, now: datetime
    ) -> Candidate | None:
        due = occurrence.fire_date - timedelta(days=_ship_days(rule))
        if occurrence.known_from is not None:
            due = max(due, occurrence.known_from)
        scheduled = self._defer(wall_clock(due, rule.schedule.at, tz))
        when = timing(scheduled, now, rule.schedule.late_by_at_most)
        if when is Timing.LATE and now - scheduled > rule.schedule.late_by_at_most + LATE_LISTED:
            return None
        send_at = self._defer(now.astimezone(tz)) if when is Timing.DUE else scheduled
        contact = subject.contact
        return Candidate(
            rule,
            contact,
            occurrence,
            due,
            scheduled,
            send_at.replace(microsecond=0),
            when,
            now,
            subject.data,
            contact.locale or self.config.locale,
            self.owner(contact.owner),
        )

    def _defer(self, moment: datetime) -> datetime:
        quiet = self.config.policies.quiet_hours
        return QuietHours(quiet.start, quiet.end).defer(moment) if quiet else moment

    def condition(self, candidate: Candidate) -> bool | str:
        """The rule's `when:` for this candidate: True, False, or why it could not be told."""
        condition = self.conditions.get(candidate.rule.id)
        if condition is None:
            return True
        try:
            return condition.holds(candidate.variables)
        except RenderError as exc:
            return str(exc)

    def decide(self, candidate: Candidate, verdict: bool | str = True) -> Decision:
        decision, draft = self._drafted(candidate)
        blocked = suppression(candidate.contact, candidate.data)
        if blocked:
            return replace(decision, status=Status.SUPPRESSED, reason=blocked)
        if candidate.timing is Timing.LATE:
            return replace(decision, status=Status.LATE, reason=_late_reason(candidate))
        if isinstance(verdict, str):
            return replace(decision, status=Status.ERROR, reason=verdict)
        impossible = check_action(draft, dict(decision.details))
        if impossible:
            return replace(decision, status=Status.ERROR, reason=impossible)
        rendered = self._rendered(decision, candidate, draft)
        if rendered.status is Status.ERROR:
            return rendered
        return self._approval(rendered, candidate.rule)

    def rehearse(self, candidate: Candidate) -> Decision:
        """The decision rendered as if every policy let it go: what a test send shows."""
        decision, draft = self._drafted(candidate)
        return self._rendered(decision, candidate, draft)

    def _drafted(self, candidate: Candidate) -> tuple[Decision, Draft]:
        rule, contact = candidate.rule, candidate.contact
        draft = Draft(
            rule, contact, candidate.owner, self.config, candidate.due_date, candidate.occurrence
        )
        decision = Decision(
            rule_id=rule.id,
            contact_id=contact.id,
            action=rule.action.kind,
            channel=ACTION_CHANNELS[rule.action.kind],
            send_at=candidate.send_at,
            key=candidate.key,
            status=Status.PLANNED,
            priority=rule.priority,
            occasion=candidate.occurrence.details,
            details=action_details(draft),
            deadline=candidate.scheduled + rule.schedule.late_by_at_most,
        )
        return decision, draft

    def _rendered(self, decision: Decision, candidate: Candidate, draft: Draft) -> Decision:
        template = draft.template
        if template is None:
            return decision
        try:
            message = self.templates.render(template, candidate.locale, candidate.variables)
            check_message(draft, message)
        except RenderError as exc:
            return replace(decision, status=Status.ERROR, reason=str(exc), error_at=exc.where)
        return replace(decision, message=message)

    @staticmethod
    def _approval(decision: Decision, rule: Rule) -> Decision:
        # The cap weighs needs_approval like planned, and a capped one stays capped.
        if rule.needs_approval:
            return replace(decision, status=Status.NEEDS_APPROVAL, reason="approval required")
        return decision

    def owner(self, email: str | None) -> Owner | None:
        if not email:
            return None
        profile = self.config.owners.get(email) or self.config.owners.get(email.lower())
        if profile is not None:
            return Owner(email, profile.name, profile.title, profile.phone)
        local = email.split("@", 1)[0]
        return Owner(email, " ".join(p.capitalize() for p in local.replace("_", ".").split(".")))


def _ship_days(rule: Rule) -> int:
    return int(rule.action.params.ship_days) if rule.action.kind == "gift" else 0


def _late_reason(candidate: Candidate) -> str:
    window = format_duration(candidate.rule.schedule.late_by_at_most)
    return (
        f"was due {local_time(candidate.scheduled)}, {window} or more ago "
        "(schedule.late_by_at_most)"
    )


def _described(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _order(decision: Decision) -> tuple[float, str, str]:
    return decision.send_at.timestamp(), decision.rule_id, decision.contact_id
