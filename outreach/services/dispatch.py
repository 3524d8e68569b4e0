"""`outreach run`: plan, record, then dispatch what is due. Safe from cron every minute and
when two runs overlap: the outbox is the truth.

    record_plan   plan and record in one write transaction: each action once, by its key
    dispatch      resolve rows orphaned in `sending`, then per due row: check it may still
                  go, claim it (`sending`, committed before the channel is called), send,
                  record what the channel said (outreach.core.delivery)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from outreach.adapters.channels import Confirming
from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.clock import Clock
from outreach.core.delivery import PAUSE_ON_REFUSAL, Delivery, Step, backoff, interrupted, settle
from outreach.core.model import Dataset, Decision, Status
from outreach.core.policies import suppression
from outreach.services.channels import CHANNELS, ChannelSet, Unusable
from outreach.services.workspace import Workspace

# How far ahead a run plans: the frequency cap must see what comes soon (a birthday note
# tomorrow outranks a check-in today), and gifts wait for approval ahead of their day.
PLAN_AHEAD = timedelta(days=14)
BATCH = 50
PLANNING_LOCK = 0x6F7574  # PostgreSQL advisory lock: one planner at a time


@dataclass
class RunReport:
    recorded: Counter[str] = field(default_factory=Counter)  # new outbox rows, by status
    outcomes: Counter[str] = field(default_factory=Counter)  # what dispatch did, by status
    paused: dict[str, str] = field(default_factory=dict)  # channel -> until when, and why
    unusable: dict[str, str] = field(default_factory=dict)  # channel -> why
    waiting: dict[str, int] = field(default_factory=dict)  # open outbox rows, by status


def run_once(workspace: Workspace, store: Store, channels: ChannelSet, clock: Clock) -> RunReport:
    report = RunReport()
    report.recorded = record_plan(workspace, store, clock())
    dispatch(store, channels, workspace.data, clock, Worker.current(), report)
    with store.engine.connect() as connection:
        counts = outbox.counts(connection)
    report.waiting = {s: counts[s] for s in outbox.OPEN_STATUSES if counts.get(s)}
    return report


def record_plan(workspace: Workspace, store: Store, now: datetime) -> Counter[str]:
    """Plan against what the outbox holds and record what is due, late, or waiting for
    approval. The plan is made outside the write lock (it can take seconds) and recorded
    under it, if the outbox did not change meanwhile in a way that counts; if it did, it is
    made again under the lock. Either way a plan is recorded against the history it saw."""
    with store.engine.connect() as connection:
        seen = outbox.fingerprint(connection)
        decisions = _plan(workspace, connection, now)
    with store.transaction() as connection:
        if not store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            connection.execute(text(f"SELECT pg_advisory_xact_lock({PLANNING_LOCK})"))
        if outbox.fingerprint(connection) != seen:
            decisions = _plan(workspace, connection, now)
        return outbox.record(connection, [d for d in decisions if to_record(d, now)], now)


def _plan(workspace: Workspace, connection: Connection, now: datetime) -> list[Decision]:
    history = outbox.history(connection)
    return workspace.engine.plan(workspace.data, now, now + PLAN_AHEAD, history)


def to_record(decision: Decision, now: datetime) -> bool:
    """Rows are written when they are due (so a later edit of a rule or template still counts
    for what comes later), when they are late (never sent; kept for history), and as soon as
    they are planned when a person must approve them first."""
    if decision.status is Status.PLANNED:
        return decision.send_at <= now
    return decision.status in (Status.NEEDS_APPROVAL, Status.LATE)


def dispatch(
    store: Store,
    channels: ChannelSet,
    data: Dataset,
    clock: Clock,
    worker: Worker,
    report: RunReport,
    jitter: Callable[[], float] = random.random,
) -> None:
    recover(store, channels, clock(), worker, report)
    while True:
        now = clock()
        with store.engine.connect() as connection:
            resting = outbox.pauses(connection, now)
            for name, (until, why) in resting.items():
                report.paused[name] = f"until {until.isoformat(timespec='seconds')}: {why}"
            open_channels = [c for c in CHANNELS if not _stopped(c, report)]
            keys = outbox.due(connection, now, open_channels, BATCH)
        if not keys:
            return
        for key in keys:
            _dispatch_one(store, channels, data, clock, worker, report, jitter, key)


def _dispatch_one(
    store: Store,
    channels: ChannelSet,
    data: Dataset,
    clock: Clock,
    worker: Worker,
    report: RunReport,
    jitter: Callable[[], float],
    key: str,
) -> None:
    now = clock()
    with store.transaction() as connection:
        before = outbox.get(connection, key)
        if before is None or _stopped(before.channel, report):
            return
        try:
            channel = channels.get(before.channel)
        except Unusable as exc:
            report.unusable[before.channel] = str(exc)
            return
        stop = send_time_check(before, data, now)
        if stop is not None:
            status, reason = stop
            if outbox.move(connection, key, ["pending", "failed"], status, now, last_error=reason):
                report.outcomes[status] += 1
            return
        row = outbox.claim(connection, key, now, str(worker))
    if row is None:  # not due any more, or another dispatcher has it
        return
    delivery = channel.send(row)
    _record_delivery(store, row, before.status, delivery, clock(), report, jitter())


def _record_delivery(
    store: Store,
    row: OutboxRow,
    claimed_from: str,
    delivery: Delivery,
    now: datetime,
    report: RunReport,
    jitter: float,
) -> None:
    with store.transaction() as connection:
        if delivery.outcome == "paused":
            outbox.release(connection, row, claimed_from, now)
            outbox.pause(connection, row.channel, now + PAUSE_ON_REFUSAL, delivery.error or "")
            report.paused[row.channel] = f"for {PAUSE_ON_REFUSAL}: {delivery.error}"
            return
        step = settle(delivery, row.channel, row.attempts, row.doubtful, now, jitter)
        if outbox.settle(connection, row, step, now):
            report.outcomes[step.status] += 1
        if delivery.rest_channel:
            until = now + backoff(1, delivery.retry_after, jitter)
            outbox.pause(connection, row.channel, until, delivery.error or "rate limited")
            report.paused[row.channel] = (
                f"until {until.isoformat(timespec='seconds')}: {delivery.error}"
            )


def _stopped(channel: str, report: RunReport) -> bool:
    """A channel paused or unusable is not tried again in this pass."""
    return channel in report.paused or channel in report.unusable


def send_time_check(row: OutboxRow, data: Dataset, now: datetime) -> tuple[str, str] | None:
    """Whether a due row must not go after all: (status, reason), or None. Opt-outs and the
    suppression list are read again from today's data, not trusted from planning time."""
    contact = data.contacts.get(row.contact_id)
    if contact is None:
        return "cancelled", f"contact {row.contact_id} is no longer in the contacts file"
    blocked = suppression(contact, data)
    if blocked is None and row.action == "email":
        address = str(row.payload.get("details", {}).get("to") or "").lower()
        if address in data.suppressed_emails:
            blocked = f"{address} is on the suppression list"
    if blocked is not None:
        return "cancelled", f"{blocked} (checked at send time)"
    if row.deadline is not None and now > row.deadline:
        when = row.deadline.isoformat(timespec="minutes")
        return "late", f"not sent by {when}, the end of its catch-up window"
    return None


def recover(
    store: Store, channels: ChannelSet, now: datetime, worker: Worker, report: RunReport
) -> None:
    """Resolve rows left in `sending` by a dispatcher that died: looked up where the
    receiver can be read back, else by `interrupted` (never a blind second gift)."""
    with store.engine.connect() as connection:
        stuck = list(outbox.rows(connection, statuses=["sending"]))
    for row in stuck:
        if not worker.orphaned(row.claimed_by, row.updated_at, now):
            continue
        step = _resolution(row, channels, now)
        with store.transaction() as connection:
            if step is None:
                done = outbox.release(connection, row, "pending", now)
            else:
                done = outbox.settle(connection, row, step, now)
        if done:
            report.outcomes["recovered"] += 1


def _resolution(row: OutboxRow, channels: ChannelSet, now: datetime) -> Step | None:
    """The row's next state; None when it surely never arrived (send it as if new)."""
    try:
        channel = channels.get(row.channel)
    except Unusable:
        channel = None
    arrived = channel.confirm(row) if isinstance(channel, Confirming) else None
    if arrived is False:
        return None
    if arrived:
        found = "interrupted while sending; found at the receiver"
        return Step("sent", row.attempts + 1, row.doubtful, found, None, "confirmed")
    return interrupted(row.channel, row.attempts, row.doubtful, now)
