"""`outreach status`: is a daemon running and on what (the last good rules after a broken
edit?), what each daemon holds (planning shards, the feeds whose last turn it took, sends in
flight), when did its jobs last run (stale when long ago or when no daemon beats any more),
which channels cannot send, what is in the outbox, which feeds fail, and what goes next
(what is overdue first)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, daemons, leases, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.adapters.store.schema import feeds
from outreach.core.display import zone_or
from outreach.core.model import Status
from outreach.core.outbox import State
from outreach.core.rules import ACTION_CHANNELS
from outreach.core.timing import zone
from outreach.services.channels import CHANNELS, ChannelSet
from outreach.services.preview import preview
from outreach.services.workspace import Workspace

NEXT = 10
STALE_AFTER = 3  # intervals: a tick older than this many is not current


@dataclass(frozen=True)
class Daemon:
    running: bool
    holder: str
    started_at: datetime
    heartbeat_at: datetime
    shards: tuple[int, ...] = ()  # planning shards under a lease not expired
    feeds: tuple[str, ...] = ()  # feeds whose last turn it took
    in_flight: int = 0  # rows it has claimed or is sending


@dataclass(frozen=True)
class Holdings:
    """What the store says each daemon holds, by holder."""

    shards: dict[str, tuple[int, ...]] = field(default_factory=dict)
    feeds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, connection: Connection, now: datetime) -> Holdings:
        polled: dict[str, list[str]] = {}
        query = select(feeds.c.polled_by, feeds.c.url).where(feeds.c.polled_by.is_not(None))
        for holder, url in connection.execute(query.order_by(feeds.c.url)):
            polled.setdefault(holder, []).append(url)
        return cls(
            leases.holdings(connection, now),
            {holder: tuple(urls) for holder, urls in polled.items()},
            outbox.in_flight(connection),
        )


@dataclass(frozen=True)
class JobTick:
    tick: daemons.Tick
    age: timedelta
    stale: str | None  # why it is not current, or None


@dataclass(frozen=True)
class ChannelState:
    name: str
    problem: str | None  # why it cannot send at all (a secret missing, a sink unwritable)
    paused_until: datetime | None = None  # resting (a 429, refused credentials) until then
    paused_why: str | None = None


@dataclass(frozen=True)
class Upcoming:
    send_at: datetime  # on the recipient's clock
    rule: str
    contact: str
    action: str
    status: str
    key: str
    overdue: bool = False  # its time passed and it still waits to be sent
    reason: str | None = None  # of an overdue row: why it stands where it does


@dataclass
class StatusReport:
    now: datetime
    zone: tzinfo  # the workspace's: for times that belong to no recipient
    store: bool
    daemon: Daemon | None = None  # a SQLite store's (the lock's holder)
    listed: list[Daemon] = field(default_factory=list)  # every daemon on the store's list
    shared: bool = False  # a store several daemons share (PostgreSQL)
    shard_count: int = 0  # planning shards the workspace splits contacts into
    unheld: int = 0  # of those, how many no daemon holds a lease on just now
    fallbacks: list[daemons.Fallback] = field(default_factory=list)
    ticks: list[JobTick] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    channels: list[ChannelState] = field(default_factory=list)
    feeds: list[dict[str, Any]] = field(default_factory=list)
    next: list[Upcoming] = field(default_factory=list)
    overdue: int = 0  # how many are overdue (the first of them are in `next`)


def status(workspace: Workspace, now: datetime, channels: ChannelSet) -> StatusReport:
    store = Store.of(workspace.config, workspace.root, create=False)
    report = StatusReport(now, zone(workspace.config.timezone), bool(store))
    overdue: list[Upcoming] = []
    pauses: Mapping[str, tuple[datetime, str]] = {}
    if store is not None:
        report.shard_count = workspace.config.daemons.planning_shards
        with store.engine.connect() as connection:
            held = Holdings.read(connection, now)
            report.daemon = _daemon(daemons.holder(connection), now, held)
            report.listed = [_described(h, now, held) for h in daemons.registered(connection)]
            report.unheld = leases.unheld(connection, now, report.shard_count)
            running = report.daemon.running if report.daemon else None
            if store.is_sqlite and report.daemon is None:
                running = False  # a SQLite daemon always holds the lock while it runs
            if not store.is_sqlite:
                report.shared, running = True, any(d.running for d in report.listed)
            report.fallbacks = [] if running is False else daemons.fallbacks_now(connection)
            report.ticks = [_aged(t, now, running) for t in daemons.last_ticks(connection)]
            report.outbox = outbox.counts(connection)
            pauses = outbox.pauses(connection, now)
            report.feeds = [dict(row) for row in connection.execute(select(feeds)).mappings()]
            overdue = _overdue(connection, now, report.zone)
    report.channels = _channels(workspace, channels, pauses)
    report.overdue = len(overdue)
    report.next = (overdue + _upcoming(workspace, now, {u.key for u in overdue}))[:NEXT]
    return report


def _daemon(holder: daemons.Holder | None, now: datetime, held: Holdings) -> Daemon | None:
    return None if holder is None else _described(holder, now, held)


def _described(holder: daemons.Holder, now: datetime, held: Holdings) -> Daemon:
    gone = daemons.is_gone(holder, Worker.current(), now)
    name = holder.holder
    return Daemon(
        not gone,
        name,
        holder.started_at,
        holder.heartbeat_at,
        held.shards.get(name, ()),
        held.feeds.get(name, ()),
        held.in_flight.get(name, 0),
    )


def _aged(tick: daemons.Tick, now: datetime, running: bool | None) -> JobTick:
    age = now - tick.at
    stale = None
    if running is False:
        stale = "no daemon is running"
    elif tick.every is not None and age > timedelta(seconds=STALE_AFTER * tick.every):
        stale = f"it runs every {tick.every:g} s"
    return JobTick(tick, age, stale)


def _channels(
    workspace: Workspace, channels: ChannelSet, pauses: Mapping[str, tuple[datetime, str]]
) -> list[ChannelState]:
    """The channels outreach.yaml names or a rule uses, and whether each can send."""
    config = workspace.config
    used = {ACTION_CHANNELS[r.action.kind] for r in workspace.engine.rules if r.enabled}
    named = {name for name in CHANNELS if getattr(config.channels, name, None) is not None}
    states = []
    for name in sorted(used | named | set(pauses)):
        until, why = pauses.get(name, (None, None))
        states.append(ChannelState(name, channels.problem(name), until, why))
    return states


def _overdue(connection: Connection, now: datetime, fallback: tzinfo) -> list[Upcoming]:
    """Rows whose moment passed that still wait to go (no dispatcher ran since, or it could
    not send), oldest first."""
    waiting = outbox.rows(connection, statuses=[State.PENDING, State.FAILED])
    late = [row for row in waiting if _moment(row) <= now]
    return [
        Upcoming(
            _moment(row).astimezone(zone_or(row.timezone, fallback)),
            row.rule_id,
            row.contact_id,
            row.action,
            str(row.status),
            row.key,
            overdue=True,
            reason=row.reason,
        )
        for row in sorted(late, key=lambda row: (_moment(row), row.key))
    ]


def _moment(row: OutboxRow) -> datetime:
    """When a waiting row is to go: its send time, or a failed one's next attempt."""
    if row.status is State.FAILED and row.next_attempt_at is not None:
        return row.next_attempt_at
    return row.send_at


def _upcoming(workspace: Workspace, now: datetime, shown: set[str]) -> list[Upcoming]:
    return [
        Upcoming(d.send_at, d.rule_id, d.contact_id, d.action, d.status.value, d.key)
        for d in preview(workspace, now, 30)
        if d.status in (Status.PLANNED, Status.NEEDS_APPROVAL)
        and d.send_at >= now
        and d.key not in shown
    ]
