"""What each action kind needs: its template, its particulars, and what a message must hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from outreach.core.addresses import display_name, holds_encoded_word
from outreach.core.config import Config
from outreach.core.model import Contact, Message, Occurrence, Owner
from outreach.core.rendering import RenderError
from outreach.core.rules import EmailAction, GiftAction, Rule, TaskAction, WebhookAction

ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "postal_code", "country")


@dataclass(frozen=True, slots=True)
class Draft:
    rule: Rule
    contact: Contact
    owner: Owner | None
    config: Config
    due_date: date
    occurrence: Occurrence

    @property
    def template(self) -> str | None:
        params = self.rule.action.params
        return params.card if isinstance(params, GiftAction) else params.template


def action_details(draft: Draft) -> dict[str, Any]:
    params = draft.rule.action.params
    if isinstance(params, EmailAction):
        return _email(draft, params)
    if isinstance(params, GiftAction):
        return {
            "item": params.item,
            "budget": params.budget.model_dump(mode="json") if params.budget else None,
            "recipient": draft.contact.name,
            "address": {f: draft.contact.fields.get(f, "") for f in ADDRESS_FIELDS},
            "ship_by": draft.due_date.isoformat(),
            "occasion_date": draft.occurrence.date.isoformat(),
        }
    if isinstance(params, TaskAction):
        return {
            "assignee": _address(params.assignee, draft.owner) or "",
            "due": draft.due_date.isoformat(),
        }
    assert isinstance(params, WebhookAction)
    return {"url": params.url}


def _email(draft: Draft, params: EmailAction) -> dict[str, Any]:
    channel = draft.config.channels.email
    default_from = channel.from_ if channel is not None else ""
    sender = _mailbox(params.from_, draft.owner) or default_from
    reply_to = _mailbox(params.reply_to, draft.owner) if params.reply_to else None
    if reply_to is None and params.from_ == "owner" and draft.owner is not None:
        reply_to = draft.owner.email  # personal notes are answered by the account manager
    return {
        "to": draft.contact.email or "",
        "to_name": display_name(draft.contact.full_name),
        "from": sender,
        "reply_to": reply_to,
    }


def _address(who: str, owner: Owner | None) -> str | None:
    if who == "owner":
        return owner.email if owner else None
    return who


def _mailbox(who: str, owner: Owner | None) -> str | None:
    if who == "owner":
        if owner is None:
            return None
        name = display_name(owner.name)
        return f"{name} <{owner.email}>" if name else owner.email
    return who


def check_action(draft: Draft, details: dict[str, Any]) -> str | None:
    """Why this action cannot be carried out whatever its message says, or None."""
    kind = draft.rule.action.kind
    if kind == "email" and not draft.contact.email:
        if draft.contact.fields.get("email"):  # the cell, quoted, is reported on loading
            return "the contact's email is not a usable address (see the contacts file)"
        return "the contact has no email address"
    if kind == "gift" and not all(details["address"].get(f) for f in ("address_line1", "city")):
        return "no shipping address (address_line1 and city are needed for a gift)"
    if kind == "task" and not details["assignee"]:
        return "no one to assign the task to: the contact has no owner; set assignee: ADDRESS"
    return None


def check_message(draft: Draft, message: Message) -> None:
    """Raise RenderError when the rendered message cannot serve its action."""
    kind = draft.rule.action.kind
    where = message.template
    if kind == "email" and not message.subject:
        raise RenderError("the subject is empty (define {% block subject %})", where)
    if kind == "email" and holds_encoded_word(message.subject):
        raise RenderError(
            "the subject holds MIME encoded-word syntax (=?charset?b?...?=), which mail "
            "programs decode into other text, even into headers of its own; remove it from "
            "the template or the data it shows",
            where,
        )
    if kind in ("email", "gift", "webhook") and not message.text:
        raise RenderError("the text is empty (define {% block text %})", where)
    if kind == "task" and not (message.subject or message.text):
        raise RenderError("the task has neither subject nor text", where)
    if kind == "webhook":
        try:
            json.loads(message.text)
        except ValueError as exc:
            raise RenderError(f"the webhook body is not JSON ({exc}); use |tojson", where) from None
