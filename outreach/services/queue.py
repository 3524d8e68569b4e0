"""What a person does with the outbox: approve or reject what waits for approval, send again
what is dead, ambiguous or cancelled, and read the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from outreach.adapters.store import Store, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.core.outbox import RETRIABLE, State
from outreach.errors import UsageError

APPROVABLE = (State.NEEDS_APPROVAL,)
REJECTABLE = (State.NEEDS_APPROVAL, State.PENDING, State.FAILED, State.ERROR)


@dataclass(frozen=True)
class Change:
    key: str
    done: bool
    note: str  # what happened, or why not


def approve(store: Store, keys: list[str], now: datetime) -> list[Change]:
    # An approved action goes when its time comes, however long the approval took: the
    # catch-up window is for outreach being down, not for a person deciding.
    return _move(store, keys, APPROVABLE, State.PENDING, now, deadline=None)


def reject(store: Store, keys: list[str], now: datetime) -> list[Change]:
    return _move(store, keys, REJECTABLE, State.REJECTED, now)


def retry(store: Store, keys: list[str], now: datetime) -> list[Change]:
    """Send again: a person has looked (an ambiguous gift did not arrive; a dead email's
    address is fixed). Counts start over."""
    return _move(
        store,
        keys,
        RETRIABLE,
        State.PENDING,
        now,
        deadline=None,
        attempts=0,
        doubtful=0,
        next_attempt_at=None,
        last_error=None,
    )


def waiting_keys(store: Store, rule: str | None) -> list[str]:
    with store.engine.connect() as connection:
        return [r.key for r in outbox.rows(connection, statuses=APPROVABLE, rule_id=rule)]


def listed(
    store: Store,
    statuses: list[str] | None = None,
    contact: str | None = None,
    rule: str | None = None,
) -> list[OutboxRow]:
    known = [str(state) for state in State]
    unknown = sorted(set(statuses or ()) - set(known))
    if unknown:
        raise UsageError(f"no status {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = None if statuses is None else [State(status) for status in statuses]
    with store.engine.connect() as connection:
        return list(outbox.rows(connection, statuses=chosen, contact_id=contact, rule_id=rule))


def _move(
    store: Store,
    keys: list[str],
    allowed: tuple[State, ...],
    to_status: State,
    now: datetime,
    **values: object,
) -> list[Change]:
    changes = []
    with store.transaction() as connection:
        for key in keys:
            row = outbox.get(connection, key)
            if row is None:
                changes.append(Change(key, False, "no such key in the outbox"))
            elif row.status not in allowed:
                changes.append(
                    Change(key, False, f"it is {row.status}, not {' or '.join(allowed)}")
                )
            elif outbox.move(connection, key, allowed, to_status, now, **values):
                changes.append(Change(key, True, f"{row.status} -> {to_status}"))
            else:
                changes.append(Change(key, False, "it changed meanwhile; look again"))
    return changes
