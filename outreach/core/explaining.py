"""Why a rule fires for a contact, or why not: the reason chain behind `outreach explain`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import nodes

from outreach.core.display import local_time
from outreach.core.model import Dataset, Decision, Status
from outreach.core.planning import Candidate, Engine, soonest_ahead
from outreach.core.rules import Rule
from outreach.core.timing import zone
from outreach.core.triggers import KINDS, Subject

HORIZON = timedelta(days=400)  # far enough to see every yearly occasion
FIRING = (Status.PLANNED, Status.NEEDS_APPROVAL)


@dataclass(frozen=True)
class Step:
    ok: bool | None  # None: informational
    text: str


@dataclass(frozen=True)
class Explanation:
    rule_id: str
    fires: bool
    steps: list[Step] = field(default_factory=list)
    decision: Decision | None = None


def explain(
    engine: Engine, data: Dataset, contact_id: str, now: datetime, rule_id: str | None = None
) -> list[Explanation]:
    contact = data.contacts[contact_id]
    tz = zone(contact.timezone or engine.config.timezone)
    subject = Subject.of(contact, data, now.astimezone(tz))
    until = now + HORIZON
    decisions = {d.key: d for d in engine.plan(data, now, until, contacts=[contact_id])}
    return [
        _explain_rule(engine, rule, subject, decisions, now, until)
        for rule in engine.rules
        if rule_id is None or rule.id == rule_id
    ]


def _explain_rule(
    engine: Engine,
    rule: Rule,
    subject: Subject,
    decisions: dict[str, Decision],
    now: datetime,
    until: datetime,
) -> Explanation:
    seen = Step(None, f"trigger {rule.trigger.kind}: {_described(rule, subject)}")
    if not rule.enabled:
        return Explanation(rule.id, False, [seen, Step(False, "the rule is disabled")])
    found = list(
        engine.candidates(
            data=subject.data, now=now, until=until, contacts=[subject.contact.id], rules=[rule.id]
        )
    )
    candidates = [c for c in found if isinstance(c, Candidate)]
    failures = [d for d in found if isinstance(d, Decision)]
    if failures and not candidates:
        return Explanation(rule.id, False, [seen, Step(False, f"error: {failures[0].reason}")])
    if not candidates:
        return Explanation(
            rule.id, False, [seen, Step(False, f"no occasion before {until.date().isoformat()}")]
        )
    # The next occasion still to come; a missed (late) one only when nothing else is ahead.
    candidates.sort(key=soonest_ahead)
    verdicts = [(c, engine.condition(c)) for c in candidates]
    chosen, verdict = next(((c, v) for c, v in verdicts if v is not False), verdicts[0])
    steps = [seen, _occasion_step(chosen)]
    if engine.conditions.get(rule.id) is not None:
        steps.append(_when_step(engine, chosen, verdict))
    if verdict is False:
        return Explanation(rule.id, False, steps)
    decision = decisions.get(chosen.key)
    if decision is None:
        return Explanation(rule.id, False, steps)
    steps.append(_status_step(decision))
    return Explanation(rule.id, decision.status in FIRING, steps, decision)


def _described(rule: Rule, subject: Subject) -> str:
    try:
        return KINDS[rule.trigger.kind].describe(rule.trigger.params, subject)
    except Exception as exc:  # what the data holds must not stop the explanation
        return f"cannot be read from this contact's data ({type(exc).__name__}: {exc})"


def _occasion_step(candidate: Candidate) -> Step:
    occasion = candidate.occurrence
    extra = ""
    if occasion.details.get("age") is not None:
        extra = f", age {occasion.details['age']}"
    elif occasion.details.get("years") is not None:
        extra = f", {occasion.details['years']} years"
    due = local_time(candidate.scheduled)
    return Step(
        True,
        f"next occasion {occasion.date.isoformat()}{extra}; due {due} "
        f"({candidate.scheduled.tzinfo}); key {candidate.key}",
    )


def _when_step(engine: Engine, candidate: Candidate, verdict: bool | str) -> Step:
    condition = engine.conditions[candidate.rule.id]
    shown = _referenced_values(engine, condition.expression, candidate.variables)
    values = f" ({shown})" if shown else ""
    if isinstance(verdict, str):
        return Step(False, f"when: {condition.expression} -> error: {verdict}")
    outcome = "true" if verdict else "false"
    return Step(bool(verdict), f"when: {condition.expression} -> {outcome}{values}")


def _referenced_values(engine: Engine, expression: str, variables: dict[str, Any]) -> str:
    """`contact.tier = 'gold'` for each attribute path the expression reads."""
    try:
        ast = engine.templates.plain.parse(f"{{{{ {expression} }}}}")
    except Exception:
        return ""
    shown: dict[str, str] = {}
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name):
            base = variables.get(node.node.name)
            value = base.get(node.attr, "(missing)") if isinstance(base, dict) else "(missing)"
            shown[f"{node.node.name}.{node.attr}"] = repr(value)
    return ", ".join(f"{k} = {v}" for k, v in list(shown.items())[:6])


def _status_step(decision: Decision) -> Step:
    when = local_time(decision.send_at)
    if decision.status in FIRING:
        extra = " (waits for approval)" if decision.status is Status.NEEDS_APPROVAL else ""
        return Step(True, f"{decision.status.value}: {decision.action} at {when}{extra}")
    return Step(False, f"{decision.status.value}: {decision.reason}")
