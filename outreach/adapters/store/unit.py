"""The SQL store's unit of work (`outreach.ports.Unit`): one connection in one transaction,
on SQLite or PostgreSQL alike. Each method is a statement or two of `outbox.py`,
`daemons.py` or `feeds.py`, where rows are turned into values; nothing else here touches SQL
but the planners' advisory lock."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from outreach.adapters.processes import Worker
from outreach.adapters.store import daemons, feeds, outbox
from outreach.adapters.store.schema import iso
from outreach.core.delivery import Step
from outreach.core.model import Decision, FeedEntry, Mention
from outreach.core.outbox import COUNTED, OutboxRow, State
from outreach.core.policies import GiftSpend, History
from outreach.core.records import Fallback, FeedState, Holder, Tick
from outreach.ports import MOVABLE, Cursor

PLANNING_LOCK = 0x6F7574  # PostgreSQL advisory lock: one planner at a time


def stored_values(values: dict[str, object]) -> dict[str, object]:
    """What `move` may change on a row, as the store writes it (times as ISO text)."""
    unknown = set(values) - MOVABLE
    if unknown:
        raise ValueError(f"a move never changes {', '.join(sorted(unknown))}")
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()}


class SqlUnit:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # --- the outbox ---------------------------------------------------------------------

    def record(self, decisions: Iterable[Decision], now: datetime) -> list[Decision]:
        return outbox.record(self.connection, decisions, now)

    def forget_errors(
        self,
        recorded: Collection[str],
        planned: Collection[str],
        rules: Collection[str],
        now: datetime,
    ) -> int:
        return outbox.forget_errors(self.connection, recorded, planned, rules, now)

    def keys(self) -> frozenset[str]:
        return outbox.keys(self.connection)

    def history(self) -> History:
        return outbox.history(self.connection)

    def settled_history(self) -> tuple[History, dict[str, str]]:
        return outbox.settled_history(self.connection)

    def counted_sends(
        self, statuses: Iterable[State] | None = None
    ) -> dict[str, tuple[datetime, ...]]:
        return outbox.counted_sends(self.connection, COUNTED if statuses is None else statuses)

    def gifts(self, statuses: Iterable[State] | None = None) -> tuple[GiftSpend, ...]:
        return outbox.gifts(self.connection, COUNTED if statuses is None else statuses)

    def fingerprint(self) -> tuple[int, int]:
        return outbox.fingerprint(self.connection)

    def lock_planning(self) -> None:
        if self.connection.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE did it
            self.connection.execute(text(f"SELECT pg_advisory_xact_lock({PLANNING_LOCK})"))

    def rows(
        self,
        statuses: Iterable[State] | None = None,
        contact_id: str | None = None,
        rule_id: str | None = None,
    ) -> list[OutboxRow]:
        return list(outbox.rows(self.connection, statuses, contact_id, rule_id))

    def get(self, key: str) -> OutboxRow | None:
        return outbox.get(self.connection, key)

    def counts(self) -> dict[str, int]:
        return outbox.counts(self.connection)

    def move(
        self,
        key: str,
        from_statuses: Iterable[State],
        to_status: State,
        now: datetime,
        **values: object,
    ) -> bool:
        stored = stored_values(values)
        return outbox.move(self.connection, key, from_statuses, to_status, now, **stored)

    def postpone(self, key: str, until: datetime, now: datetime) -> bool:
        return outbox.postpone(self.connection, key, until, now)

    def upcoming(self, now: datetime) -> dict[str, tuple[datetime, ...]]:
        return outbox.upcoming(self.connection, now)

    def claim(
        self, key: str, now: datetime, worker: str, wall: datetime | None = None
    ) -> OutboxRow | None:
        return outbox.claim(self.connection, key, now, worker, wall)

    def claim_due(
        self,
        channel: str,
        now: datetime,
        worker: str,
        limit: int,
        after: Cursor | None = None,
        wall: datetime | None = None,
    ) -> tuple[list[OutboxRow], Cursor | None]:
        return outbox.claim_due(self.connection, channel, now, worker, limit, after, wall)

    def finish(self, row: OutboxRow, step: Step, now: datetime) -> bool:
        return outbox.finish(self.connection, row, step, now)

    def readdress(self, row: OutboxRow, to: str, now: datetime) -> OutboxRow:
        return outbox.readdress(self.connection, row, to, now)

    def release(self, row: OutboxRow, back_to: State, now: datetime) -> bool:
        return outbox.release(self.connection, row, back_to, now)

    def pause(self, channel: str, until: datetime, reason: str) -> None:
        outbox.pause(self.connection, channel, until, reason)

    def pauses(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        return outbox.pauses(self.connection, now)

    def open_rules(self) -> set[str]:
        return outbox.open_rules(self.connection)

    def cancel_rules(self, rules: Iterable[str], now: datetime) -> dict[str, int]:
        return outbox.cancel_rules(self.connection, rules, now)

    def digests_beside(self, mine: str) -> list[str]:
        return outbox.digests_beside(self.connection, mine)

    def every_digest(self) -> list[str]:
        return outbox.every_digest(self.connection)

    def digests_from(self, prefix: str, limit: int = 20) -> dict[str, str]:
        return outbox.digests_from(self.connection, prefix, limit)

    # --- the daemons --------------------------------------------------------------------

    def holder(self) -> Holder | None:
        return daemons.holder(self.connection)

    def acquire(self, me: Worker, now: datetime) -> Holder | None:
        return daemons.acquire(self.connection, me, now)

    def beat(self, me: Worker, now: datetime) -> bool:
        return daemons.beat(self.connection, me, now)

    def release_daemon(self, me: Worker) -> None:
        daemons.release(self.connection, me)

    def register(self, me: Worker, now: datetime) -> None:
        daemons.register(self.connection, me, now)

    def beat_registered(self, me: Worker, now: datetime) -> None:
        daemons.beat_registered(self.connection, me, now)

    def registered(self) -> list[Holder]:
        return daemons.registered(self.connection)

    def record_tick(
        self, job: str, started: datetime, seconds: float, error: str | None, every: float | None
    ) -> None:
        daemons.record_tick(self.connection, job, started, seconds, error, every)

    def last_ticks(self) -> list[Tick]:
        return daemons.last_ticks(self.connection)

    def fall_back(self, topic: str, now: datetime, reason: str) -> None:
        daemons.fall_back(self.connection, topic, now, reason)

    def recover(self, topics: tuple[str, ...] = ("rules", "config")) -> None:
        daemons.recover(self.connection, topics)

    def fallbacks_now(self) -> list[Fallback]:
        return daemons.fallbacks_now(self.connection)

    # --- feeds --------------------------------------------------------------------------

    def take_feed_turn(self, url: str, now: datetime, every: timedelta) -> bool:
        return feeds.take_feed_turn(self.connection, url, now, every)

    def feed_state(self, url: str) -> FeedState | None:
        return feeds.feed_state(self.connection, url)

    def feeds(self) -> list[FeedState]:
        return feeds.every_feed(self.connection)

    def record_fetch(
        self,
        url: str,
        when: datetime,
        status: str,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        new_entries: int = 0,
    ) -> None:
        feeds.record_fetch(
            self.connection, url, when, status, error, etag, last_modified, new_entries
        )

    def add_entries(
        self, found: Iterable[tuple[FeedEntry, str]], feed_url: str, language: str, when: datetime
    ) -> list[FeedEntry]:
        return feeds.add_entries(self.connection, found, feed_url, language, when)

    def known_entries(self, ids: Sequence[str], link_keys: Sequence[str]) -> set[str]:
        return feeds.known_entries(self.connection, ids, link_keys)

    def add_mentions(self, found: Iterable[Mention], when: datetime) -> None:
        feeds.add_mentions(self.connection, found, when)

    def mentions(self) -> list[Mention]:
        return feeds.every_mention(self.connection)
