"""The outbox's states, and the moves between them. Every action outreach decides on is one
row, under its occurrence key, and only ever moves along these arrows:

    needs_approval -> pending (approved) | rejected | cancelled (its rule was removed)
    pending        -> sending (claimed by one dispatcher) | pending (postponed: quiet hours)
                   -> rejected | cancelled (opted out or suppressed since; rule removed)
                   -> late (its catch-up window passed)
    sending        -> sent | failed | dead | ambiguous (the channel's answer, `delivery.py`)
                   -> pending (released: it never went out)
    failed         -> sending (its next attempt, after a backoff) | rejected | cancelled
    error          -> pending | needs_approval | error (planned again: fixed, or not yet)
                   -> rejected | cancelled; or forgotten (deleted) when a plan shows it moot
    dead, ambiguous, cancelled, late, rejected -> pending (a person: `queue retry`)
    sent           final

The store translates rows (`outreach.adapters.store.outbox`); every statement that changes a
row's status checks its move against this table first, so no code path can, say, send a
rejected gift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from outreach.core.model import Status
from outreach.core.outgoing import Outgoing


class State(StrEnum):
    NEEDS_APPROVAL = "needs_approval"
    PENDING = "pending"
    SENDING = "sending"
    FAILED = "failed"
    SENT = "sent"
    DEAD = "dead"
    AMBIGUOUS = "ambiguous"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    LATE = "late"
    ERROR = "error"


S = State
# A person sends again what no one will touch otherwise.
RETRIABLE = (S.DEAD, S.AMBIGUOUS, S.CANCELLED, S.LATE, S.REJECTED)
MOVES: Mapping[State, frozenset[State]] = {
    S.NEEDS_APPROVAL: frozenset({S.PENDING, S.REJECTED, S.CANCELLED}),
    S.PENDING: frozenset({S.SENDING, S.PENDING, S.REJECTED, S.CANCELLED, S.LATE}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEAD, S.AMBIGUOUS, S.PENDING}),
    S.FAILED: frozenset({S.SENDING, S.REJECTED, S.CANCELLED}),
    S.ERROR: frozenset({S.PENDING, S.NEEDS_APPROVAL, S.ERROR, S.REJECTED, S.CANCELLED}),
    S.SENT: frozenset(),
    **{state: frozenset({S.PENDING}) for state in RETRIABLE},
}

# What a plan's decision becomes in the outbox; the other statuses are not recorded: they
# are decided again at every plan (a cap may lift, a suppression may be lifted).
RECORDED: Mapping[Status, State] = {
    Status.PLANNED: S.PENDING,
    Status.NEEDS_APPROVAL: S.NEEDS_APPROVAL,
    Status.LATE: S.LATE,
    Status.ERROR: S.ERROR,
}
# Rows still to be done; rows done or given up on (until a person says otherwise).
OPEN = (S.NEEDS_APPROVAL, S.PENDING, S.SENDING, S.FAILED)
FINAL = (S.SENT, S.DEAD, S.AMBIGUOUS, S.REJECTED, S.CANCELLED, S.LATE)
# Rows that stand for a message the client gets: they count against the frequency cap and
# gift limits.
COUNTED = (S.NEEDS_APPROVAL, S.PENDING, S.SENDING, S.SENT, S.FAILED, S.AMBIGUOUS)
# What a person should look at: open rows, and rows stuck until a person acts.
ATTENTION = (*OPEN, S.AMBIGUOUS, S.ERROR)
# Rows a removed rule leaves behind, cancelled with it (not `sending`: that one finishes).
CANCELLABLE = (S.NEEDS_APPROVAL, S.PENDING, S.FAILED, S.ERROR)
DUE = (S.PENDING, S.FAILED)  # what a dispatcher may claim, once its moment comes


def check_moves(before: Iterable[State], after: State) -> None:
    """ValueError when a move from one of `before` to `after` is not drawn above: a bug, never
    something a user's input can cause."""
    for state in before:
        if after not in MOVES[state]:
            raise ValueError(f"the outbox never moves a row from {state} to {after}")


@dataclass(frozen=True)
class OutboxRow:
    key: str
    rule_id: str
    contact_id: str
    action: str
    channel: str
    status: State
    send_at: datetime
    payload: dict[str, Any]
    attempts: int
    provider_id: str | None
    last_error: str | None
    updated_at: datetime
    deadline: datetime | None = None
    doubtful: int = 0
    next_attempt_at: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    damaged: str | None = None  # why the stored row cannot be sent as it stands
    timezone: str | None = None  # the recipient's (IANA); None in rows older than that
    note: str | None = None  # a person's last word on it: "retry requested by ann"

    @property
    def reason(self) -> str | None:
        """Why the row stands where it does now: what the channel said, or what a person did
        last (a retried row is no longer late), else what planning said."""
        if self.status is State.REJECTED and self.note:
            return self.note
        return self.last_error or self.note or self.payload.get("reason")

    def outgoing(self) -> Outgoing:
        """What its channel is handed: the message or action, not the row."""
        payload, details = self.payload, self.payload.get("details")
        return Outgoing(
            key=self.key,
            rule_id=self.rule_id,
            contact_id=self.contact_id,
            action=self.action,
            channel=self.channel,
            due=self.send_at,
            subject=_text(payload.get("subject")),
            text=_text(payload.get("text")),
            html=_text(payload.get("html")),
            locale=_text(payload.get("locale")),
            details=dict(details) if isinstance(details, dict) else {},
            attempt=self.attempts + 1,
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
