"""The daemons' own records in the store: the single-daemon lock of a SQLite store, with a
heartbeat so a crashed daemon's lock can be taken over; the list of every daemon working on
the store (several share a PostgreSQL one); and when each job last ran."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from outreach.adapters.processes import Worker
from outreach.adapters.store import leases
from outreach.adapters.store.schema import (
    daemons,
    fallbacks,
    from_iso,
    iso,
    put,
    ticks,
    workers,
)

ROW = "this"
# A lock whose heartbeat is older than this is stale, whoever holds it (a daemon beats at
# every dispatch tick, and at least every HEARTBEAT).
HEARTBEAT = timedelta(seconds=15)
STALE = timedelta(minutes=2)
FORGOTTEN = timedelta(days=1)  # a daemon silent this long is struck off the list


@dataclass(frozen=True)
class Holder:
    holder: str
    started_at: datetime
    heartbeat_at: datetime


def holder(connection: Connection) -> Holder | None:
    row = connection.execute(select(daemons).where(daemons.c.store == ROW)).mappings().first()
    return None if row is None else _holder(row)


def _holder(row: Any) -> Holder:
    started, heard = from_iso(row["started_at"]), from_iso(row["heartbeat_at"])
    return Holder(row["holder"], started or datetime.min, heard or datetime.min)


def acquire(connection: Connection, me: Worker, now: datetime) -> Holder | None:
    """Take the lock; None when taken, else the live daemon that holds it."""
    current = holder(connection)
    if current is not None and not is_gone(current, me, now):
        return current
    connection.execute(delete(daemons).where(daemons.c.store == ROW))
    connection.execute(
        insert(daemons).values(
            store=ROW, holder=str(me), started_at=iso(now), heartbeat_at=iso(now)
        )
    )
    return None


def is_gone(current: Holder, me: Worker, now: datetime) -> bool:
    if now - current.heartbeat_at > STALE:
        return True
    return current.holder != str(me) and me.orphaned(current.holder, current.heartbeat_at, now)


def beat(connection: Connection, me: Worker, now: datetime) -> bool:
    """Say we are alive; False when the lock is no longer ours."""
    result = connection.execute(
        update(daemons)
        .where(daemons.c.store == ROW, daemons.c.holder == str(me))
        .values(heartbeat_at=iso(now))
    )
    return bool(result.rowcount)


def release(connection: Connection, me: Worker) -> None:
    connection.execute(delete(daemons).where(daemons.c.holder == str(me)))
    connection.execute(delete(workers).where(workers.c.holder == str(me)))
    leases.give_up_all(connection, me)  # the others take its shards at their next turn
    recover(connection)  # what a stopped daemon ran on is no longer so


def register(connection: Connection, me: Worker, now: datetime) -> None:
    """Enter this daemon in the list of those working on the store."""
    connection.execute(delete(workers).where(workers.c.heartbeat_at < iso(now - FORGOTTEN)))
    put(connection, workers, {"holder": str(me), "started_at": iso(now), "heartbeat_at": iso(now)})


def beat_registered(connection: Connection, me: Worker, now: datetime) -> None:
    connection.execute(
        update(workers).where(workers.c.holder == str(me)).values(heartbeat_at=iso(now))
    )


def registered(connection: Connection) -> list[Holder]:
    """Every daemon on the list, the earliest started first (the silent ones too)."""
    rows = connection.execute(select(workers).order_by(workers.c.started_at)).mappings()
    return [_holder(row) for row in rows]


@dataclass(frozen=True)
class Tick:
    """A daemon job's last run."""

    job: str
    at: datetime
    seconds: float | None
    error: str | None
    every: float | None  # seconds between its runs; None from an older outreach


def record_tick(
    connection: Connection,
    job: str,
    started: datetime,
    seconds: float,
    error: str | None,
    every: float | None = None,
) -> None:
    row = {"job": job, "started_at": iso(started), "seconds": seconds, "error": error}
    put(connection, ticks, row | {"every": every})


def last_ticks(connection: Connection) -> list[Tick]:
    return [
        Tick(
            row["job"],
            from_iso(row["started_at"]) or datetime.min,
            row["seconds"],
            row["error"],
            row["every"],
        )
        for row in connection.execute(select(ticks).order_by(ticks.c.job)).mappings()
    ]


@dataclass(frozen=True)
class Fallback:
    """What the daemon runs on instead of the workspace as it stands, since when, and why."""

    topic: str  # "rules": the last good rules and templates; "config": nothing is sent
    since: datetime
    reason: str


def fall_back(connection: Connection, topic: str, now: datetime, reason: str) -> None:
    """Note a fallback; one already noted keeps its `since` (the reason is the latest)."""
    row = {"topic": topic, "since": iso(now), "reason": reason}
    put(connection, fallbacks, row, since=fallbacks.c.since)


def recover(connection: Connection, topics: tuple[str, ...] = ("rules", "config")) -> None:
    connection.execute(delete(fallbacks).where(fallbacks.c.topic.in_(topics)))


def fallbacks_now(connection: Connection) -> list[Fallback]:
    return [
        Fallback(row["topic"], from_iso(row["since"]) or datetime.min, row["reason"])
        for row in connection.execute(select(fallbacks).order_by(fallbacks.c.topic)).mappings()
    ]
