"""The outbox's states, and the moves between them. Every action outreach decides on is one
row, under its occurrence key, and only ever moves along these arrows:

    needs_approval -> pending (approved) | rejected | cancelled (its rule was removed)
    pending        -> claimed (taken by one dispatcher) | pending (postponed: quiet hours)
                   -> rejected | cancelled (opted out or suppressed since; rule removed)
                   -> late (its catch-up window passed)
    claimed        -> sending (its request is handed to the channel now)
                   -> pending (released: held back, or its dispatcher died before it began)
                   -> dead (what would go cannot be read)
    sending        -> sent | failed | dead | ambiguous (the channel's answer, `delivery.py`)
                   -> pending (released: it surely never went out)
    failed         -> claimed (its next attempt, after a backoff) | rejected | cancelled
    error          -> pending | needs_approval | error (planned again: fixed, or not yet)
                   -> rejected | cancelled; or forgotten (deleted) when a plan shows it moot
    dead, ambiguous, cancelled, late, rejected -> pending (a person: `queue retry`)
    sent           final

The store translates rows (`outreach.adapters.store.outbox`); every statement that changes a
row's status checks its move against this table first, so no code path can, say, send a
rejected gift.

`claimed` and `sending` are apart so that a dispatcher killed with many sends at once leaves
doubt only where a request had begun: a `claimed` row of a dead dispatcher surely never
reached the provider and is simply due again; a `sending` one may have, and is resolved by
`delivery.interrupted` (never a blind second gift).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from outreach.core.model import Status


class State(StrEnum):
    NEEDS_APPROVAL = "needs_approval"
    PENDING = "pending"
    CLAIMED = "claimed"
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
    S.PENDING: frozenset({S.CLAIMED, S.PENDING, S.REJECTED, S.CANCELLED, S.LATE}),
    S.CLAIMED: frozenset({S.SENDING, S.PENDING, S.DEAD}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEAD, S.AMBIGUOUS, S.PENDING}),
    S.FAILED: frozenset({S.CLAIMED, S.REJECTED, S.CANCELLED}),
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
OPEN = (S.NEEDS_APPROVAL, S.PENDING, S.CLAIMED, S.SENDING, S.FAILED)
FINAL = (S.SENT, S.DEAD, S.AMBIGUOUS, S.REJECTED, S.CANCELLED, S.LATE)
# Rows that stand for a message the client gets: they count against the frequency cap and
# gift limits.
COUNTED = (
    S.NEEDS_APPROVAL,
    S.PENDING,
    S.CLAIMED,
    S.SENDING,
    S.SENT,
    S.FAILED,
    S.AMBIGUOUS,
)
# Rows a dispatcher holds: claimed, or with their request under way.
IN_FLIGHT = (S.CLAIMED, S.SENDING)
# What a person should look at: open rows, and rows stuck until a person acts.
ATTENTION = (*OPEN, S.AMBIGUOUS, S.ERROR)
# Rows a removed rule leaves behind, cancelled with it (not one in flight: that one finishes).
CANCELLABLE = (S.NEEDS_APPROVAL, S.PENDING, S.FAILED, S.ERROR)


def check_moves(before: Iterable[State], after: State) -> None:
    """ValueError when a move from one of `before` to `after` is not drawn above: a bug, never
    something a user's input can cause."""
    for state in before:
        if after not in MOVES[state]:
            raise ValueError(f"the outbox never moves a row from {state} to {after}")
