"""Dry run: what the engine would do over the coming days. Writes and sends nothing.

When the store exists, what is already done (sent, rejected, late...) is left out and counts
against the frequency cap, as it will for `run`; what is recorded but still open is shown
as it stands (an approved gift is planned, not waiting for approval)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from outreach.adapters.store import Store, outbox
from outreach.core.model import Decision, Status
from outreach.core.outbox import State
from outreach.core.policies import History
from outreach.core.problems import warning
from outreach.errors import UsageError, UserError
from outreach.services.moving_dates import planned_data
from outreach.services.workspace import Workspace


def preview(
    workspace: Workspace,
    now: datetime,
    days: int,
    rule: str | None = None,
    contact: str | None = None,
) -> list[Decision]:
    if days < 0:
        raise UsageError("--days must be 0 or more")
    if rule is not None and rule not in {r.id for r in workspace.engine.rules}:
        known = ", ".join(r.id for r in workspace.engine.rules)
        raise UsageError(f"no rule '{rule}'; known: {known}")
    if contact is not None and contact not in workspace.data.contacts:
        raise UsageError(f"no contact '{contact}' in the contacts file")
    try:
        until = now + timedelta(days=days)
    except OverflowError:
        raise UsageError("--now plus --days goes past the year 9999") from None
    history, still_open = _history(workspace)
    # Every rule is planned, also under --rule: the frequency cap weighs them all.
    decisions = workspace.engine.plan(
        planned_data(workspace, now),
        now,
        until,
        history,
        contacts=None if contact is None else [contact],
    )
    return [_as_recorded(d, still_open) for d in decisions if rule is None or d.rule_id == rule]


def _history(workspace: Workspace) -> tuple[History, dict[str, str]]:
    try:
        store = Store.of(workspace.config, workspace.root, create=False, memory_ok=True)
    except UserError as exc:  # a dry run still plans, without what the store knows
        workspace.problems.append(
            warning("outreach.yaml", None, None, f"{exc}; planned as if nothing was sent yet")
        )
        return History(), {}
    if store is None:
        return History(), {}
    with store.engine.connect() as connection:
        return outbox.settled_history(connection)


def _as_recorded(decision: Decision, still_open: dict[str, str]) -> Decision:
    recorded = still_open.get(decision.key)
    approved = (State.PENDING, State.CLAIMED, State.SENDING, State.FAILED)
    if recorded in approved and decision.status is Status.NEEDS_APPROVAL:
        return replace(decision, status=Status.PLANNED, reason="approved")
    return decision
