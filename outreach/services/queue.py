"""What a person does with the outbox: approve or reject what waits for approval, send again
what is dead, ambiguous or cancelled, and read the history. A row is named by its key or by
its handle (`outreach.core.handles`), and what a person did is noted on it ("retry requested
by ann"), so every table tells its state and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from outreach.core.handles import among, digest, handle_of, looks_like_handle, resolve
from outreach.core.outbox import RETRIABLE, OutboxRow, State
from outreach.errors import UsageError
from outreach.ports import Store

APPROVABLE = (State.NEEDS_APPROVAL,)
REJECTABLE = (State.NEEDS_APPROVAL, State.PENDING, State.FAILED, State.ERROR)


@dataclass(frozen=True)
class Change:
    key: str
    done: bool
    note: str  # what happened, or why not


def approve(store: Store, keys: list[str], now: datetime, by: str) -> list[Change]:
    # An approved action goes when its time comes, however long the approval took: the
    # catch-up window is for outreach being down, not for a person deciding.
    return _move(
        store, keys, APPROVABLE, State.PENDING, now, deadline=None, note=f"approved by {by}"
    )


def reject(store: Store, keys: list[str], now: datetime, by: str) -> list[Change]:
    return _move(store, keys, REJECTABLE, State.REJECTED, now, note=f"rejected by {by}")


def retry(store: Store, keys: list[str], now: datetime, by: str) -> list[Change]:
    """Send again: a person has looked (an ambiguous gift did not arrive; a dead email's
    address is fixed). Counts start over; what made it late, dead or ambiguous is history."""
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
        note=f"retry requested by {by}",
    )


def waiting_keys(store: Store, rule: str | None) -> list[str]:
    with store.view() as unit:
        return [r.key for r in unit.rows(statuses=APPROVABLE, rule_id=rule)]


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
    with store.view() as unit:
        return unit.rows(statuses=chosen, contact_id=contact, rule_id=rule)


MANY = 200  # rows shown, beyond which reading every digest once beats two lookups a row


def handles_of(store: Store, rows: list[OutboxRow]) -> dict[str, str]:
    """Each row's handle: unique among every row of the outbox, not only those shown."""
    found = {}
    with store.view() as unit:
        ordered = unit.every_digest() if len(rows) > MANY else None
        for row in rows:
            mine = digest(row.key)
            if ordered is not None:
                found[row.key] = among(mine, ordered)
            else:
                found[row.key] = handle_of(mine, unit.digests_beside(mine))
    return found


def _move(
    store: Store,
    keys: list[str],
    allowed: tuple[State, ...],
    to_status: State,
    now: datetime,
    **values: object,
) -> list[Change]:
    changes = []
    with store.unit() as unit:
        for given in keys:
            row = unit.get(given)
            if row is None:  # a handle, then
                prefix = given.lower() if looks_like_handle(given) else ""
                named = resolve(given, unit.digests_from(prefix) if prefix else {})
                row = unit.get(named.key) if named.key else None
                if row is None:
                    changes.append(Change(given, False, named.problem or "no such key"))
                    continue
            key = row.key
            if row.status not in allowed:
                changes.append(
                    Change(key, False, f"it is {row.status}, not {' or '.join(allowed)}")
                )
            elif unit.move(key, allowed, to_status, now, **values):
                changes.append(Change(key, True, f"{row.status} -> {to_status}"))
            else:
                changes.append(Change(key, False, "it changed meanwhile; look again"))
    return changes
