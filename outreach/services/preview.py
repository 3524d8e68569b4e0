"""Dry run: what the engine would do over the coming days. Writes and sends nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from outreach.core.model import Decision
from outreach.errors import UsageError
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
    # Every rule is planned, also under --rule: the frequency cap weighs them all.
    decisions = workspace.engine.plan(
        workspace.data, now, until, contacts=None if contact is None else [contact]
    )
    return [d for d in decisions if rule is None or d.rule_id == rule]
