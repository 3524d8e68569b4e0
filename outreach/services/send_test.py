"""`send-test`: render a rule's real message for a contact and email it to yourself.

The occasion is the contact's next one for the rule (or, with none ahead, the latest one),
rendered as if every policy let it go. Nothing is recorded: the real action still goes."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.addressing import mailbox
from outreach.core.model import Decision, Status
from outreach.core.outgoing import Outgoing
from outreach.core.planning import Candidate, soonest_ahead
from outreach.errors import UsageError, UserError
from outreach.services.channels import ChannelSet, Unusable
from outreach.services.moving_dates import planned_data
from outreach.services.workspace import Workspace

LOOK_AHEAD = timedelta(days=400)


def send_test(
    workspace: Workspace, channels: ChannelSet, rule_id: str, contact_id: str, to: str,
    now: datetime,
) -> tuple[Decision, Delivery]:  # fmt: skip
    try:
        mailbox(to)
    except ValueError as exc:
        raise UsageError(f"--to: '{to}' is not an address to send to: {exc}") from None
    decision = rehearsal(workspace, rule_id, contact_id, now)
    if decision.status is Status.ERROR:
        raise UserError(f"{rule_id} cannot be rendered for {contact_id}: {decision.reason}")
    try:
        email = channels.get("email")
    except Unusable as exc:
        raise UserError(f"cannot send a test: {exc}") from None
    contact = workspace.data.contacts[contact_id]
    return decision, email.send(rehearsal_message(decision, to, now, contact.name))


def rehearsal(workspace: Workspace, rule_id: str, contact_id: str, now: datetime) -> Decision:
    engine = workspace.engine
    if rule_id not in {r.id for r in engine.rules}:
        raise UsageError(f"no rule '{rule_id}'; known: {', '.join(r.id for r in engine.rules)}")
    if contact_id not in workspace.data.contacts:
        raise UsageError(f"no contact '{contact_id}' in the contacts file")
    candidate = _occasion(workspace, rule_id, contact_id, now)
    if candidate is None:
        raise UserError(
            f"{rule_id} has no occasion for {contact_id} around now; "
            f"see `outreach explain {contact_id} --rule {rule_id}`"
        )
    return engine.rehearse(candidate)


def _occasion(
    workspace: Workspace, rule_id: str, contact_id: str, now: datetime
) -> Candidate | None:
    found = list(
        workspace.engine.candidates(
            planned_data(workspace, now),
            now,
            now + LOOK_AHEAD,
            contacts=[contact_id],
            rules=[rule_id],
        )
    )
    candidates = [c for c in found if isinstance(c, Candidate)]
    failed = [d for d in found if isinstance(d, Decision)]
    if failed and not candidates:
        raise UserError(f"{rule_id} cannot be planned for {contact_id}: {failed[0].reason}")
    return min(candidates, key=soonest_ahead, default=None)


def rehearsal_message(decision: Decision, to: str, now: datetime, whom: str) -> Outgoing:
    """A message that is not in the outbox: the rendered action, addressed to `to`. A
    gift's card or a task goes as an email like any other, its subject naming the contact
    (`whom`) by name."""
    message = decision.message
    details: dict[str, Any] = dict(decision.details)
    subject = message.subject if message else ""
    if decision.action != "email":
        what = details.get("item") or decision.action
        subject = f"{what} for {whom}" + (f": {subject}" if subject else "")
        details = {"from": None, "reply_to": None}
    details.update(to=to, to_name="")
    return Outgoing(
        key=f"send-test:{decision.key}:{secrets.token_hex(4)}",
        rule_id=decision.rule_id,
        contact_id=decision.contact_id,
        action="email",
        channel="email",
        due=now,
        subject=f"[test] {subject}",
        text=message.text if message else "",
        html=message.html if message else None,
        locale=None,
        details=details,
    )
