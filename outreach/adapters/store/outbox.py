"""The outbox in the store: every action outreach decided on, once, under its occurrence key,
moving only as `outreach.core.outbox` draws it (this module translates rows, and refuses
any other move).

The key is the primary key, so recording the same plan twice, or two runs at once, writes each
action once. A claim is a conditional UPDATE (from `pending` or `failed` to `claimed`), so of
two dispatchers that want the same row exactly one gets it, on SQLite and PostgreSQL alike; the
claimant then marks it `sending` (`start`), committed, just before it hands the request to the
channel, so a row found `claimed` after its dispatcher died never reached the provider.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from outreach.adapters.store.schema import channel_pauses, from_iso, iso, outbox, put
from outreach.core.delivery import LONGEST_PAUSE, Step
from outreach.core.handles import digest
from outreach.core.model import Decision
from outreach.core.outbox import (
    CANCELLABLE,
    COUNTED,
    FINAL,
    IN_FLIGHT,
    OPEN,
    RECORDED,
    State,
    check_moves,
)
from outreach.core.policies import COUNTED_ACTIONS, GiftSpend, History
from outreach.core.rules import Money
from outreach.errors import StoreError

# What may take the place of an `error` row once its decision changes (not `late`: the error
# is what kept it from going, and says more).
REPLACES_ERROR = (State.PENDING, State.NEEDS_APPROVAL, State.ERROR)


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


def record(connection: Connection, decisions: Iterable[Decision], now: datetime) -> list[Decision]:
    """Write each recordable decision not yet in the outbox; an `error` row is replaced by
    its decision's new outcome. Return the decisions written (an error only when it is new,
    or its reason changed)."""
    written = []
    for decision in decisions:
        status = RECORDED.get(decision.status)
        if status is None:
            continue
        values = _recorded_values(decision, status, now)
        try:
            with connection.begin_nested():  # a key already there is no error: it is the point
                connection.execute(insert(outbox).values(**values))
            written.append(decision)
        except IntegrityError:
            if status in REPLACES_ERROR and _replace_error(connection, values):
                written.append(decision)
    return written


def _recorded_values(decision: Decision, status: str, now: datetime) -> dict[str, Any]:
    return {
        "key": decision.key,
        "rule_id": decision.rule_id,
        "contact_id": decision.contact_id,
        "action": decision.action,
        "channel": decision.channel,
        "status": status,
        "send_at": iso(decision.send_at),
        "deadline": iso(decision.deadline),
        "payload": json.dumps(payload_of(decision), ensure_ascii=False, default=str),
        "digest": digest(decision.key),
        "timezone": getattr(decision.send_at.tzinfo, "key", None),  # a ZoneInfo's name
        "attempts": 0,
        "created_at": iso(now),
        "updated_at": iso(now),
    }


def _replace_error(connection: Connection, values: dict[str, Any]) -> bool:
    check_moves([State.ERROR], values["status"])
    changed = values["status"] != State.ERROR or outbox.c.payload != values["payload"]
    fresh = {k: v for k, v in values.items() if k not in ("key", "created_at")}
    result = connection.execute(
        update(outbox)
        .where(outbox.c.key == values["key"], outbox.c.status == State.ERROR, changed)
        .values(**fresh)
    )
    return bool(result.rowcount)


def forget_errors(
    connection: Connection,
    recorded: Collection[str],
    planned: Collection[str],
    rules: Collection[str],
    now: datetime,
    contacts: Container[str] | None = None,
) -> int:
    """Drop the `error` rows a new plan of `rules` (for `contacts`; None: everyone) has made
    moot: those it plans again but
    not to record yet (the cause is gone; the action is recorded when due), and those it
    does not plan at all while their window is still open (`when:` is false now, the contact
    left). An error whose window closed stays: it is why that action never went; so does
    the error of a rule not planned (its file does not load just now)."""
    query = select(outbox.c.key, outbox.c.deadline, outbox.c.contact_id).where(
        outbox.c.status == State.ERROR, outbox.c.rule_id.in_(list(rules))
    )
    moment = iso(now) or ""
    gone = sorted(
        key
        for key, deadline, contact in connection.execute(query)
        if key not in recorded
        and (contacts is None or contact in contacts)  # not another planner's to judge
        and (key in planned or not isinstance(deadline, str) or deadline > moment)
    )
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        connection.execute(
            delete(outbox).where(outbox.c.key.in_(chunk), outbox.c.status == State.ERROR)
        )
    return len(gone)


def keys(connection: Connection) -> frozenset[str]:
    """Keys planning must leave alone: every row but an `error` (which is planned again)."""
    return frozenset(
        connection.execute(select(outbox.c.key).where(outbox.c.status != State.ERROR)).scalars()
    )


def history(connection: Connection) -> History:
    """What planning must know of the outbox: keys taken, sends counted, gifts spent."""
    return History(
        recorded=keys(connection), sends=counted_sends(connection), gifts=gifts(connection)
    )


def fingerprint(connection: Connection) -> tuple[int, int]:
    """Changes when a plan made from `history` could change: a row added (its key is taken),
    or a row moved into or out of the counted statuses (cap, gift limits)."""
    counted = func.sum(case((outbox.c.status.in_(COUNTED), 1), else_=0))
    total, in_counted = connection.execute(select(func.count(), counted)).one()
    return int(total), int(in_counted or 0)


def settled_history(connection: Connection) -> tuple[History, dict[str, str]]:
    """For a dry run: what is done (sent, or never to be sent) as history, and the status of
    each row still open, which the dry run plans again as if new."""
    done = select(outbox.c.key).where(outbox.c.status.in_(FINAL))
    still_open = select(outbox.c.key, outbox.c.status).where(outbox.c.status.in_(OPEN))
    counted = (State.CLAIMED, State.SENDING, State.SENT, State.AMBIGUOUS)
    history = History(
        recorded=frozenset(connection.execute(done).scalars()),
        sends=counted_sends(connection, counted),
        gifts=gifts(connection, counted),
    )
    return history, {row.key: row.status for row in connection.execute(still_open)}


def gifts(connection: Connection, statuses: Iterable[State] = COUNTED) -> tuple[GiftSpend, ...]:
    query = select(outbox.c.rule_id, outbox.c.contact_id, outbox.c.payload).where(
        outbox.c.action == "gift", outbox.c.status.in_(list(statuses))
    )
    spent = []
    for rule_id, contact_id, text in connection.execute(query):
        payload, _ = _payload(text)
        details = payload["details"]
        budget, ship_by = details.get("budget") or {}, str(details.get("ship_by") or "")
        try:
            money = Money(amount=Decimal(str(budget["amount"])), currency=budget["currency"])
            spent.append(GiftSpend(rule_id, contact_id, int(ship_by[:4]), money))
        except (TypeError, KeyError, ValueError, InvalidOperation):
            continue  # a gift without a budget spends nothing countable
    return tuple(spent)


def counted_sends(
    connection: Connection, statuses: Iterable[State] = COUNTED
) -> dict[str, tuple[datetime, ...]]:
    """Per contact, when emails and gifts went or will go: they count against the cap."""
    query = select(outbox.c.contact_id, outbox.c.send_at).where(
        outbox.c.status.in_(list(statuses)), outbox.c.action.in_(sorted(COUNTED_ACTIONS))
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
    from_statuses: Iterable[State],
    to_status: State,
    now: datetime,
    **values: Any,
) -> bool:
    """Move one row to `to_status` if it is in one of `from_statuses`; False otherwise (someone
    else moved it first, or it is not there)."""
    from_statuses = list(from_statuses)
    check_moves(from_statuses, to_status)
    result = connection.execute(
        update(outbox)
        .where(outbox.c.key == key, outbox.c.status.in_(from_statuses))
        .values(status=to_status, updated_at=iso(now), **values)
    )
    return bool(result.rowcount)


Cursor = tuple[str, str]  # (send_at, key) of the last row seen, in dispatch order


DUE = (State.PENDING, State.FAILED)  # what a dispatcher may claim, once its moment comes


def _is_due(moment: Any, wall: Any) -> Any:
    return or_(
        and_(outbox.c.status == State.PENDING, outbox.c.send_at <= moment),
        and_(outbox.c.status == State.FAILED, outbox.c.next_attempt_at <= wall),
    )


def upcoming(connection: Connection, now: datetime) -> dict[str, tuple[datetime, ...]]:
    """By channel: the earliest moment at which one of its rows may be claimed, and the
    earliest after `now` (see outreach.core.delivery.next_wake)."""
    moment = case(
        (outbox.c.status == State.PENDING, outbox.c.send_at), else_=outbox.c.next_attempt_at
    )
    later = case((moment > iso(now), moment))
    query = (
        select(outbox.c.channel, func.min(moment), func.min(later))
        .where(outbox.c.status.in_(DUE))
        .group_by(outbox.c.channel)
    )
    found = {}
    for channel, *moments in connection.execute(query):
        found[channel] = tuple(m for m in map(from_iso, moments) if m is not None)
    return found


# The statements of the dispatch loop are built once: building one costs more than running it.
_CLAIM = (
    update(outbox)
    .where(outbox.c.key == bindparam("the_key"), _is_due(bindparam("due_at"), bindparam("moment")))
    .values(status=State.CLAIMED, claimed_by=bindparam("worker"), updated_at=bindparam("moment"))
    .returning(*outbox.c)
)
_CLAIMED = and_(  # the row as its claimant last left it: claimed, or its request under way
    outbox.c.key == bindparam("the_key"),
    outbox.c.status == bindparam("held_as"),
    outbox.c.claimed_by == bindparam("claimant"),
)
_FINISH = (
    update(outbox)
    .where(_CLAIMED)
    .values(
        status=bindparam("new_status"),
        updated_at=bindparam("moment"),
        attempts=bindparam("new_attempts"),
        doubtful=bindparam("new_doubtful"),
        last_error=bindparam("new_error"),
        next_attempt_at=bindparam("new_next_attempt"),
        provider_id=func.coalesce(
            bindparam("new_provider", type_=outbox.c.provider_id.type), outbox.c.provider_id
        ),
        sent_at=func.coalesce(
            bindparam("new_sent_at", type_=outbox.c.sent_at.type), outbox.c.sent_at
        ),
        claimed_by=None,
    )
)
_RELEASE = (
    update(outbox)
    .where(_CLAIMED)
    .values(status=bindparam("new_status"), updated_at=bindparam("moment"), claimed_by=None)
)
_START = update(outbox).where(_CLAIMED).values(status=State.SENDING, updated_at=bindparam("moment"))


def claim(
    connection: Connection, key: str, now: datetime, worker: str, wall: datetime | None = None
) -> OutboxRow | None:
    """Take a row due at `now` for sending, stamped with `wall` (default `now`), the real
    time; None if it is not due, or another dispatcher took it."""
    check_moves(DUE, State.CLAIMED)
    moments = {"due_at": iso(now), "moment": iso(wall or now)}
    found = connection.execute(_CLAIM, {"the_key": key, "worker": worker, **moments})
    row = found.mappings().first()
    return _row(row) if row else None


def claim_due(
    connection: Connection,
    channel: str,
    now: datetime,
    worker: str,
    limit: int,
    after: Cursor | None = None,
    wall: datetime | None = None,
) -> tuple[list[OutboxRow], Cursor | None]:
    """Take up to `limit` of the channel's rows due at `now` (oldest first, after `after`) for
    sending, in one statement; return them in that order, and the cursor past the last. On
    PostgreSQL rows another dispatcher is claiming are skipped, not waited for (FOR UPDATE
    SKIP LOCKED); SQLite has one writer at a time (the caller's BEGIN IMMEDIATE)."""
    check_moves(DUE, State.CLAIMED)
    due_at, moment = iso(now), iso(wall or now)
    wanted = (
        select(outbox.c.key)
        .where(outbox.c.channel == channel, _is_due(due_at, moment), _past(after))
        .order_by(outbox.c.send_at, outbox.c.key)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # Two statements: as a subquery of the UPDATE, PostgreSQL may run it more than once.
    picked = list(connection.execute(wanted).scalars())
    claimed = connection.execute(
        update(outbox)
        .where(outbox.c.key.in_(picked), _is_due(due_at, moment))
        .values(status=State.CLAIMED, claimed_by=worker, updated_at=moment)
        .returning(*outbox.c)
    )
    found = sorted(claimed.mappings(), key=lambda row: (row["send_at"], row["key"]))
    cursor = (found[-1]["send_at"], found[-1]["key"]) if found else after
    return [_row(row) for row in found], cursor


def _past(after: Cursor | None) -> Any:
    if after is None:
        return true()
    return or_(
        outbox.c.send_at > after[0], and_(outbox.c.send_at == after[0], outbox.c.key > after[1])
    )


def postpone(connection: Connection, key: str, until: datetime, now: datetime) -> bool:
    """A pending row waits until `until` (quiet hours)."""
    return move(connection, key, [State.PENDING], State.PENDING, now, send_at=iso(until))


def get(connection: Connection, key: str) -> OutboxRow | None:
    found = connection.execute(select(outbox).where(outbox.c.key == key)).mappings().first()
    return _row(found) if found else None


def finish(connection: Connection, row: OutboxRow, step: Step, now: datetime) -> bool:
    """Record where a claimed row went; False if it was no longer ours (a row recovered and
    claimed again by another dispatcher in the meantime is theirs)."""
    values = {
        "new_attempts": step.attempts,
        "new_doubtful": step.doubtful,
        "new_error": step.error,
        "new_next_attempt": iso(step.next_attempt_at),
        "new_provider": step.provider_id if step.delivered else None,
        "new_sent_at": iso(now) if step.delivered else None,
    }
    return _while_claimed(connection, _FINISH, row, step.status, now, values)


def start(connection: Connection, row: OutboxRow, now: datetime) -> OutboxRow | None:
    """Mark a claimed row `sending`: its request is handed to the channel next (commit this
    first). None when it is no longer ours to send."""
    check_moves([row.status], State.SENDING)
    parameters = {"the_key": row.key, "claimant": row.claimed_by, "held_as": row.status}
    result = connection.execute(_START, {**parameters, "moment": iso(now)})
    return replace(row, status=State.SENDING, updated_at=now) if result.rowcount else None


def readdress(connection: Connection, row: OutboxRow, to: str, now: datetime) -> OutboxRow:
    """The claimed row, to go to `to` instead (the contact's address changed since)."""
    payload = {**row.payload, "details": {**row.payload["details"], "to": to}}
    text = json.dumps(payload, ensure_ascii=False, default=str)
    connection.execute(
        update(outbox).where(_CLAIMED).values(payload=text, updated_at=iso(now)),
        {"the_key": row.key, "claimant": row.claimed_by, "held_as": row.status},
    )
    return replace(row, payload=payload)


def release(connection: Connection, row: OutboxRow, back_to: State, now: datetime) -> bool:
    """Give a claimed row back untouched (its channel is paused, or it never went out)."""
    return _while_claimed(connection, _RELEASE, row, back_to, now, {})


def _while_claimed(
    connection: Connection,
    statement: Any,
    row: OutboxRow,
    status: State,
    now: datetime,
    values: dict[str, Any],
) -> bool:
    check_moves([row.status], status)
    parameters = {"the_key": row.key, "claimant": row.claimed_by, "new_status": status}
    parameters["held_as"] = row.status
    result = connection.execute(statement, {**parameters, "moment": iso(now), **values})
    return bool(result.rowcount)


def pause(connection: Connection, channel: str, until: datetime, reason: str) -> None:
    row = {"channel": channel, "paused_until": iso(until), "reason": reason}
    put(connection, channel_pauses, row)


def pauses(connection: Connection, now: datetime) -> dict[str, tuple[datetime, str]]:
    """Channels resting at `now`: until when, and why. A pause whose end cannot be read, or
    lies further ahead than any pause outreach makes, is over: a channel never rests for
    good without a word."""
    resting = {}
    for row in connection.execute(select(channel_pauses)).mappings():
        until = from_iso(row["paused_until"])
        if until is not None and now < until <= now + LONGEST_PAUSE:
            resting[row["channel"]] = (until, row["reason"])
    return resting


def open_rules(connection: Connection) -> set[str]:
    """Rules with actions still to do."""
    query = select(outbox.c.rule_id).where(outbox.c.status.in_(CANCELLABLE)).distinct()
    return set(connection.execute(query).scalars())


def cancel_rules(connection: Connection, rules: Iterable[str], now: datetime) -> dict[str, int]:
    """Cancel the open rows of these rules; how many per rule."""
    check_moves(CANCELLABLE, State.CANCELLED)
    cancelled = {}
    for rule_id in sorted(rules):
        result = connection.execute(
            update(outbox)
            .where(outbox.c.rule_id == rule_id, outbox.c.status.in_(CANCELLABLE))
            .values(
                status=State.CANCELLED,
                updated_at=iso(now),
                last_error=f"rule {rule_id} was removed from the workspace",
            )
        )
        if result.rowcount:
            cancelled[rule_id] = int(result.rowcount)
    return cancelled


def digests_beside(connection: Connection, mine: str) -> list[str]:
    """The stored key digests just below and just above `mine` (what its handle must not
    share): two index lookups."""
    below = select(func.max(outbox.c.digest)).where(outbox.c.digest < mine)
    above = select(func.min(outbox.c.digest)).where(outbox.c.digest > mine)
    found = (connection.execute(below).scalar(), connection.execute(above).scalar())
    return [d for d in found if d]


def every_digest(connection: Connection) -> list[str]:
    """Every stored key digest, sorted (read from the index)."""
    query = select(outbox.c.digest).where(outbox.c.digest.is_not(None)).order_by(outbox.c.digest)
    return list(connection.execute(query).scalars())


def digests_from(connection: Connection, prefix: str, limit: int = 20) -> dict[str, str]:
    """Keys whose digest starts with `prefix` (lowercase hex), with their digests."""
    query = (
        select(outbox.c.key, outbox.c.digest)
        .where(outbox.c.digest >= prefix, outbox.c.digest < prefix + "g")  # 'g' follows 'f'
        .order_by(outbox.c.digest)
        .limit(limit)
    )
    return {row.key: row.digest for row in connection.execute(query)}


def in_flight(connection: Connection) -> dict[str, int]:
    """By dispatcher (host:pid:token): rows it has claimed or is sending."""
    query = (
        select(outbox.c.claimed_by, func.count())
        .where(outbox.c.status.in_(IN_FLIGHT), outbox.c.claimed_by.is_not(None))
        .group_by(outbox.c.claimed_by)
    )
    return {holder: int(count) for holder, count in connection.execute(query)}


def counts(connection: Connection) -> dict[str, int]:
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    return {status: int(count) for status, count in connection.execute(query)}


_LONG_AGO = datetime.min.replace(tzinfo=UTC)  # a stored time that cannot be read


def _state(row: Any) -> State:
    try:
        return State(row["status"])
    except ValueError:
        raise StoreError(
            f"store: action {row['key']} has the status '{row['status']}', which this outreach "
            "does not know: was it written by hand, or by a newer outreach? Fix the row"
        ) from None


def _payload(text: Any) -> tuple[dict[str, Any], str | None]:
    """A row's payload, and why it cannot be trusted (then it holds no details): a store
    edited by hand, or damaged, must not stop a dispatch for everyone."""
    try:
        payload = json.loads(text)
    except (TypeError, ValueError):
        return {"details": {}}, "its stored message cannot be read"
    if not isinstance(payload, dict) or not isinstance(payload.get("details"), dict):
        return {"details": {}}, "its stored message has no particulars"
    addresses = [payload["details"].get(key) for key in ("to", "from", "reply_to")]
    if any(address is not None and not isinstance(address, str) for address in addresses):
        return {"details": {}}, "its stored addresses cannot be read"
    return payload, None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _row(row: Any) -> OutboxRow:
    payload, damaged = _payload(row["payload"])
    counts = (row["attempts"], row["doubtful"] or 0)
    if damaged is None and any(not isinstance(n, int) or n < 0 for n in counts):
        damaged = "its stored counts of tries cannot be read"
    return OutboxRow(
        key=row["key"],
        rule_id=row["rule_id"],
        contact_id=row["contact_id"],
        action=row["action"],
        channel=row["channel"],
        status=_state(row),
        send_at=from_iso(row["send_at"]) or _LONG_AGO,
        payload=payload,
        attempts=_count(row["attempts"]),
        provider_id=row["provider_id"],
        last_error=row["last_error"],
        updated_at=from_iso(row["updated_at"]) or _LONG_AGO,
        deadline=from_iso(row["deadline"]),
        doubtful=_count(row["doubtful"]),
        next_attempt_at=from_iso(row["next_attempt_at"]),
        claimed_by=row["claimed_by"],
        sent_at=from_iso(row["sent_at"]),
        damaged=damaged,
        timezone=row["timezone"],
        note=row["note"],
    )
