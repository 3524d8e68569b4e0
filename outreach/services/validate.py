"""`outreach validate`'s dry run: every rule's `when:` evaluated and templates rendered against
the real contacts, so that what would fail at send time is found now.

The plan of the coming days is made without the store's history (every occasion is tried);
a rule with no occasion in those days is tried on its next few occasions after them. Each
distinct failure is reported once, where it is (the template's line, the rule's `when:`, the
rule's action), with how many contacts it hits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from outreach.core.model import Decision, Status
from outreach.core.planning import Candidate, soonest_ahead
from outreach.core.problems import Location, Problem, warning
from outreach.services.channels import named_variables
from outreach.services.moving_dates import planned_data
from outreach.services.paths import CONFIG_FILE
from outreach.services.workspace import Workspace

HORIZON = timedelta(days=400)  # far enough for every yearly occasion
TRIED_BEYOND = 25  # occasions tried per rule that has none in the window
SHOWN_CONTACTS = 5


@dataclass
class _Failure:
    rule_id: str
    reason: str
    where: Location
    contacts: list[str] = field(default_factory=list)
    sampled: bool = False  # found among the occasions tried beyond the window


def dry_run(workspace: Workspace, now: datetime, days: int) -> list[Problem]:
    """Problems that sending would meet over `days` days from `now` (and beyond, for rules
    with no occasion in them)."""
    engine, data = workspace.engine, planned_data(workspace, now)
    decisions = engine.plan(data, now, now + timedelta(days=days))
    failures: dict[tuple[str, str], _Failure] = {}
    _collect(workspace, decisions, failures, sampled=False)
    quiet = {rule.id for rule in engine.rules if rule.enabled} - {d.rule_id for d in decisions}
    if quiet:
        _collect(workspace, _beyond(workspace, now, quiet), failures, sampled=True)
    return [_problem(failure) for failure in failures.values()]


def _beyond(workspace: Workspace, now: datetime, rules: set[str]) -> list[Decision]:
    """Decisions for the next occasions of these rules, up to TRIED_BEYOND each."""
    engine, data = workspace.engine, planned_data(workspace, now)
    found = engine.candidates(data, now, now + HORIZON, rules=rules)
    chosen: dict[str, list[Candidate]] = defaultdict(list)
    decided: list[Decision] = []
    for item in found:
        if isinstance(item, Decision):
            decided.append(item)
        else:
            chosen[item.rule.id].append(item)
    for candidates in chosen.values():
        for candidate in sorted(candidates, key=soonest_ahead)[:TRIED_BEYOND]:
            decision = engine.evaluate(candidate)
            if decision is not None:
                decided.append(decision)
    return decided


def _collect(
    workspace: Workspace,
    decisions: Iterable[Decision],
    failures: dict[tuple[str, str], _Failure],
    sampled: bool,
) -> None:
    for decision in decisions:
        place = workspace.rule_places.get(decision.rule_id)
        if decision.status is not Status.ERROR or (place and place.flawed):
            continue  # a flawed rule's errors are reported already, where they are
        reason = decision.reason or "error"
        where = _where(workspace, decision)
        if decision.error_at and reason.startswith(f"{decision.error_at}: "):
            reason = reason.removeprefix(f"{decision.error_at}: ")
        failure = failures.setdefault(
            (decision.rule_id, reason), _Failure(decision.rule_id, reason, where, sampled=sampled)
        )
        if decision.contact_id not in failure.contacts:
            failure.contacts.append(decision.contact_id)


def _where(workspace: Workspace, decision: Decision) -> Location:
    if decision.error_at:  # a template: path:line
        path, _, line = decision.error_at.rpartition(":")
        return Location(path, int(line)) if line.isdigit() else Location(decision.error_at)
    place = workspace.rule_places.get(decision.rule_id)
    if place is None:
        return Location(decision.rule_id)
    return place.when if (decision.reason or "").startswith("when:") else place.action


def _problem(failure: _Failure) -> Problem:
    names = ", ".join(sorted(failure.contacts)[:SHOWN_CONTACTS])
    more = len(failure.contacts) - SHOWN_CONTACTS
    count = len(failure.contacts)
    hits = f"{count} contact{'s' if count != 1 else ''}"
    if failure.sampled:
        hits = f"{hits} among the next occasions tried"
    listed = names + (f" and {more} more" if more > 0 else "")
    message = f"rule '{failure.rule_id}' will fail: {failure.reason} ({hits}: {listed})"
    return Problem(failure.where, message)


def unset_variables(workspace: Workspace, environ: Mapping[str, str]) -> list[Problem]:
    """Warnings for each variable outreach.yaml names that is not set where validate runs:
    `run` and the daemon will need it (they may run with another environment)."""
    return [
        warning(
            CONFIG_FILE,
            None,
            None,
            f"{setting}: the environment variable {variable} is not set here; "
            "`run` and the daemon need it",
        )
        for setting, variable in named_variables(workspace.config).items()
        if not environ.get(variable, "").strip()
    ]
