"""What a channel is handed: one outgoing message or action, typed, built from an outbox
row by `outreach.core.outbox.OutboxRow.outgoing` — never the row itself. A channel needs
what to send and to whom, and the id that names the action outside outreach; the row's
bookkeeping (status, claims, counts) stays with the store and dispatch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outreach.core.keys import opaque_id


@dataclass(frozen=True, slots=True)
class Outgoing:
    key: str  # the occurrence key: the action's name inside outreach
    rule_id: str
    contact_id: str
    action: str  # email, gift, task, webhook
    channel: str
    due: datetime  # when it was to go
    subject: str | None
    text: str | None  # a webhook action's rendered JSON body
    html: str | None
    locale: str | None
    # The action's particulars as planned: `to`, `to_name`, `from`, `reply_to` for an email,
    # `url` for a webhook, a gift's `budget`, `ship_by` and the like (a sink gets them all).
    details: Mapping[str, Any]
    attempt: int = 1  # this try's number: 1 the first time

    @property
    def idempotency_id(self) -> str:
        """The same for every try of the same action: what receivers deduplicate by."""
        return opaque_id(self.key)

    @property
    def to(self) -> str | None:
        return _text(self.details.get("to"))

    @property
    def sender(self) -> str | None:
        """The rule's `from`, when it names one; else the channel's own."""
        return _text(self.details.get("from"))

    @property
    def reply_to(self) -> str | None:
        return _text(self.details.get("reply_to"))

    @property
    def to_name(self) -> str:
        return str(self.details.get("to_name") or "")

    @property
    def url(self) -> str | None:
        """A webhook action's own address (else the channel's)."""
        return _text(self.details.get("url"))


def _text(value: object) -> str | None:
    return str(value) if value else None
