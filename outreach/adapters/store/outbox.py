"""The outbox: every action outreach decided on, once, under its occurrence key.

A row is written when the plan is recorded and then only moves forward:

    needs_approval -> pending (approve) | rejected (reject)
    pending        -> sending (claimed by a dispatcher) -> sent | failed (retry later) | dead
    failed         -> sending (at its next attempt)
    sending        -> ambiguous (found after a crash: the provider may or may not have it)
    late           (its moment passed while nothing ran; never sent, kept for history)

The key is the primary key, so recording the same plan twice, or two runs at once, writes each
action once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from outreach.adapters.store.schema import from_iso, iso, outbox
from outreach.core.model import Decision, Status
from outreach.core.policies import COUNTED_ACTIONS

# What a plan's decision becomes in the outbox; the other statuses are not recorded: they
# are decided again at every plan (a cap may lift, an error may be fixed).
RECORDED = {
    Status.PLANNED: "pending",
    Status.NEEDS_APPROVAL: "needs_approval",
    Status.LATE: "late",
}
# Rows that stand for a message the client gets, for the frequency cap.
COUNTED_STATUSES = ("needs_approval", "pending", "sending", "sent", "failed", "ambiguous")


@dataclass(frozen=True)
class OutboxRow:
    key: str
    rule_id: str
    contact_id: str
    action: str
    channel: str
    status: str
    send_at: datetime
    payload: dict[str, Any]
    attempts: int
    provider_id: str | None
    last_error: str | None
    updated_at: datetime


def payload_of(decision: Decision) -> dict[str, Any]:
    message = decision.message
    return {
        "subject": message.subject if message else None,
        "text": message.text if message else None,
        "html": message.html if message else None,
        "template": message.template if message else None,
        "locale": message.locale if message else None,
        "details": dict(decision.details),
        "priority": decision.priority,
        "reason": decision.reason,
    }


def record(connection: Connection, decisions: Iterable[Decision], now: datetime) -> int:
    """Write each recordable decision not yet in the outbox; return how many were new."""
    written = 0
    for decision in decisions:
        status = RECORDED.get(decision.status)
        if status is None:
            continue
        values = {
            "key": decision.key,
            "rule_id": decision.rule_id,
            "contact_id": decision.contact_id,
            "action": decision.action,
            "channel": decision.channel,
            "status": status,
            "send_at": iso(decision.send_at),
            "payload": json.dumps(payload_of(decision), ensure_ascii=False, default=str),
            "attempts": 0,
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        try:
            with connection.begin_nested():  # a key already there is no error: it is the point
                connection.execute(insert(outbox).values(**values))
            written += 1
        except IntegrityError:
            continue
    return written


def keys(connection: Connection) -> frozenset[str]:
    return frozenset(connection.execute(select(outbox.c.key)).scalars())


def counted_sends(connection: Connection) -> dict[str, tuple[datetime, ...]]:
    """Per contact, when emails and gifts went or will go: they count against the cap."""
    query = select(outbox.c.contact_id, outbox.c.send_at).where(
        outbox.c.status.in_(COUNTED_STATUSES), outbox.c.action.in_(sorted(COUNTED_ACTIONS))
    )
    sends: dict[str, list[datetime]] = {}
    for contact_id, send_at in connection.execute(query):
        moment = from_iso(send_at)
        if moment is not None:
            sends.setdefault(contact_id, []).append(moment)
    return {contact: tuple(times) for contact, times in sends.items()}


def rows(
    connection: Connection,
    statuses: Iterable[str] | None = None,
    contact_id: str | None = None,
    rule_id: str | None = None,
) -> Iterator[OutboxRow]:
    query = select(outbox).order_by(outbox.c.send_at, outbox.c.rule_id, outbox.c.contact_id)
    if statuses is not None:
        query = query.where(outbox.c.status.in_(list(statuses)))
    if contact_id is not None:
        query = query.where(outbox.c.contact_id == contact_id)
    if rule_id is not None:
        query = query.where(outbox.c.rule_id == rule_id)
    for row in connection.execute(query).mappings():
        yield _row(row)


def move(
    connection: Connection,
    key: str,
    from_statuses: Iterable[str],
    to_status: str,
    now: datetime,
    **values: Any,
) -> bool:
    """Move one row to `to_status` if it is in one of `from_statuses`; False otherwise (someone
    else moved it first, or it is not there)."""
    result = connection.execute(
        update(outbox)
        .where(outbox.c.key == key, outbox.c.status.in_(list(from_statuses)))
        .values(status=to_status, updated_at=iso(now), **values)
    )
    return bool(result.rowcount)


def counts(connection: Connection) -> dict[str, int]:
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    return {status: int(count) for status, count in connection.execute(query)}


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        key=row["key"],
        rule_id=row["rule_id"],
        contact_id=row["contact_id"],
        action=row["action"],
        channel=row["channel"],
        status=row["status"],
        send_at=from_iso(row["send_at"]) or datetime.min,
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        provider_id=row["provider_id"],
        last_error=row["last_error"],
        updated_at=from_iso(row["updated_at"]) or datetime.min,
    )
