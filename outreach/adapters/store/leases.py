"""Planning shards under leases in the store: which daemon plans which contacts.

A lease is a row of `shard_leases` (holder, expiry) that its daemon renews at every
heartbeat and planning tick; a daemon that dies (SIGKILL, a lost machine) stops renewing,
and once its leases expire (LEASE_FOR), or at once when the daemon is seen gone on this
machine, the others take its shards at their next turn. So a shard waits at most
LEASE_FOR + one heartbeat for a new planner.

Why a table and not PostgreSQL's session advisory locks: a session lock belongs to one
server connection, and SQLAlchemy's pool hands connections to whichever thread asks next
(a lock taken on one is not held by the next), PgBouncer in transaction mode mixes sessions
of different clients, and a connection dropped by the network releases its locks without a
word to the daemon, which would go on planning. A row with an expiry survives all of that,
reads the same on SQLite (where one daemon holds every shard), and `outreach status` can
show it. Only the rebalancing itself is serialised, by a transaction-scoped advisory lock
(gone with its transaction: nothing is left on a pooled connection).

Leases make planning cheap, not correct: two daemons planning the same contact at once (a
lease taken over from a daemon that was only suspended) still record each action once,
because the outbox key is unique (`outbox.record`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.engine import Connection

from outreach.adapters.processes import Worker
from outreach.adapters.store.schema import add_new, from_iso, iso, shard_leases, workers
from outreach.core.shards import Lease, Shards, moves

LEASE_FOR = timedelta(seconds=45)  # three heartbeats (daemons.HEARTBEAT)
REBALANCING = 0x6F7576  # PostgreSQL transaction-scoped advisory lock: one rebalance at a time


def rebalance(connection: Connection, me: Worker, count: int, now: datetime) -> Shards:
    """Renew this daemon's leases, give up those above its fair share among the live
    daemons, take free ones up to it; the shards it holds now. Run in a write transaction."""
    if connection.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises already
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": REBALANCING})
    _make_rows(connection, count)
    name = str(me)
    leases = {
        row.shard: Lease(row.holder, from_iso(row.expires_at))
        for row in connection.execute(select(shard_leases).where(shard_leases.c.shard < count))
    }
    chosen = moves(count, leases, name, live(connection, me, now), now)
    if chosen.give_up:
        connection.execute(
            update(shard_leases)
            .where(shard_leases.c.shard.in_(chosen.give_up), shard_leases.c.holder == name)
            .values(holder=None, taken_at=None, expires_at=None)
        )
    if chosen.take:
        connection.execute(
            update(shard_leases)
            .where(shard_leases.c.shard.in_(chosen.take))
            .values(holder=name, taken_at=iso(now))
        )
    connection.execute(
        update(shard_leases)
        .where(shard_leases.c.holder == name)
        .values(expires_at=iso(now + LEASE_FOR))
    )
    return held(connection, me, count, now)


def _make_rows(connection: Connection, count: int) -> None:
    have = connection.execute(
        select(func.count()).where(shard_leases.c.shard < count).select_from(shard_leases)
    ).scalar_one()
    if have < count:
        for shard in range(count):
            add_new(connection, shard_leases, {"shard": shard})


def live(connection: Connection, me: Worker, now: datetime) -> set[str]:
    """Daemons on the store's list that beat within LEASE_FOR and are not seen gone."""
    since = iso(now - LEASE_FOR)
    rows = connection.execute(
        select(workers.c.holder, workers.c.heartbeat_at).where(workers.c.heartbeat_at >= since)
    )
    return {
        holder
        for holder, heard in rows
        if not me.orphaned(holder, from_iso(heard) or datetime.min, now)
    } | {str(me)}


def held(connection: Connection, me: Worker, count: int, now: datetime) -> Shards:
    """The shards whose lease this daemon holds now (expired ones are not held)."""
    query = select(shard_leases.c.shard).where(
        shard_leases.c.holder == str(me),
        shard_leases.c.shard < count,
        shard_leases.c.expires_at > iso(now),
    )
    return Shards(count, frozenset(connection.execute(query).scalars()))


def give_up_all(connection: Connection, me: Worker) -> None:
    """A daemon that stops frees its shards at once: the others need not wait for expiry."""
    connection.execute(
        update(shard_leases)
        .where(shard_leases.c.holder == str(me))
        .values(holder=None, taken_at=None, expires_at=None)
    )


def holdings(connection: Connection, now: datetime) -> dict[str, tuple[int, ...]]:
    """By daemon: the shards it holds under a lease not expired."""
    query = (
        select(shard_leases.c.holder, shard_leases.c.shard)
        .where(
            and_(shard_leases.c.holder.is_not(None), shard_leases.c.expires_at > iso(now)),
        )
        .order_by(shard_leases.c.shard)
    )
    found: dict[str, list[int]] = {}
    for holder, shard in connection.execute(query):
        found.setdefault(holder, []).append(shard)
    return {holder: tuple(shards) for holder, shards in found.items()}


def unheld(connection: Connection, now: datetime, count: int) -> int:
    """Of `count` shards, how many no daemon holds a lease on just now."""
    query = (
        select(func.count())
        .select_from(shard_leases)
        .where(
            shard_leases.c.shard < count,
            shard_leases.c.holder.is_not(None),
            shard_leases.c.expires_at > iso(now),
        )
    )
    return count - int(connection.execute(query).scalar_one())
