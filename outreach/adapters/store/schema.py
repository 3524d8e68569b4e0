"""Every table of the store, in one metadata, and how times are written: UTC ISO-8601 text,
which sorts correctly and reads the same on SQLite and PostgreSQL.

This is the schema at the newest migration (`migrations/versions`): a change here comes with
a new migration script, and tests/adapters/test_migrations.py checks the two agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# Who this store is: one row, made with the store; the workspace records the id it uses.
store = Table(
    "store",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", String(40), nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("url", String(2000), primary_key=True),  # as `feed_key` gives it: no secrets
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    Column("last_fetch", String(40)),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("entries_seen", Integer, nullable=False, default=0),
    Column("polled_by", String(200)),  # the daemon (host:pid:token) that took its last turn
)

entries = Table(
    "entries",
    metadata,
    Column("id", String(2000), primary_key=True),
    Column("link_key", String(2000), index=True),
    Column("feed_url", String(2000), nullable=False),  # the feed's key, as in `feeds`
    Column("language", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("published", String(40)),
    Column("summary", Text, nullable=False),
    Column("first_seen", String(40), nullable=False),
)

mentions = Table(
    "mentions",
    metadata,
    Column("entry_id", String(2000), ForeignKey("entries.id"), primary_key=True),
    Column("company_id", String(500), primary_key=True),
    Column("sentence", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("found_at", String(40), nullable=False),
)


def put(connection: Connection, table: Table, values: dict[str, Any], **on_update: Any) -> None:
    """Write a row under its key, replacing the one there (with `on_update` for the columns
    worked out from the old row), in one statement: of writers at once the later wins. A
    delete or a look, then an insert, fails on PostgreSQL when another transaction inserts
    the key in between; SQLite lets only one writer in at a time."""
    statement = _insert(connection, table).values(**values)
    keys = [column.name for column in table.primary_key.columns]
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    statement = statement.on_conflict_do_update(index_elements=keys, set_=changes | on_update)
    connection.execute(statement)


def add_new(connection: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one with its key is there, written by anyone (`put`); whether it
    was inserted."""
    statement = _insert(connection, table).values(**values).on_conflict_do_nothing()
    keys = statement.returning(*table.primary_key.columns)  # psycopg's rowcount here is -1
    return connection.execute(keys).first() is not None


def _insert(connection: Connection, table: Table) -> Any:  # INSERT with ON CONFLICT
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def from_iso(text: str | None) -> datetime | None:
    """A stored time, aware; None for none — or for text that is not a time (a store edited
    by hand must not stop planning or sending for everyone)."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


outbox = Table(
    "outbox",
    metadata,
    Column("key", String(2000), primary_key=True),
    Column("rule_id", String(500), nullable=False, index=True),
    Column("contact_id", String(500), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("send_at", String(40), nullable=False, index=True),
    Column("payload", Text, nullable=False),  # JSON: message and action particulars
    Column("deadline", String(40)),  # after this it is `late`, never sent
    Column("attempts", Integer, nullable=False, default=0),  # answers from the provider
    Column("doubtful", Integer, nullable=False, default=0),  # tries that may have arrived
    Column("next_attempt_at", String(40)),  # for `failed`: not before this
    Column("claimed_by", String(200)),  # for `sending`: host:pid:token of the dispatcher
    Column("provider_id", String(500)),
    Column("last_error", Text),
    Column("sent_at", String(40)),
    Column("digest", String(64), index=True),  # SHA-256 of the key: handles are its prefixes
    Column("timezone", String(64)),  # the recipient's; none: a row older than 0005
    Column("note", Text),  # a person's last word on it: "retry requested by ann at ..."
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# A channel that must not be used for a while: rate limited (429) or refused our credentials
# (401), so the queue waits instead of burning through.
channel_pauses = Table(
    "channel_pauses",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("paused_until", String(40), nullable=False),
    Column("reason", Text, nullable=False),
)


# Who runs the daemon on this store (one per SQLite store), and when it last said so.
daemons = Table(
    "daemons",
    metadata,
    Column("store", String(20), primary_key=True),  # always "this": one row, one lock
    Column("holder", String(200), nullable=False),  # host:pid:token
    Column("started_at", String(40), nullable=False),
    Column("heartbeat_at", String(40), nullable=False),
)

# Every daemon working on this store, on any backend (several share a PostgreSQL store), with
# its heartbeat: for `outreach status`. A daemon silent for a day is struck off.
workers = Table(
    "workers",
    metadata,
    Column("holder", String(200), primary_key=True),  # host:pid:token
    Column("started_at", String(40), nullable=False),
    Column("heartbeat_at", String(40), nullable=False),
)

# Planning shards (`outreach.core.shards`) and the daemon that plans each, until its lease
# expires unless renewed (`leases.py`). Rows are made by the first daemon that needs them.
shard_leases = Table(
    "shard_leases",
    metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(200)),  # host:pid:token; none: free
    Column("taken_at", String(40)),
    Column("expires_at", String(40)),
)

# When each of the daemon's jobs last ran, for `outreach status`.
ticks = Table(
    "ticks",
    metadata,
    Column("job", String(2100), primary_key=True),
    Column("started_at", String(40), nullable=False),
    Column("seconds", Float),
    Column("error", Text),
    Column("every", Float),  # seconds between its runs: a tick older than a few is stale
)

# What the running daemon runs on instead of the workspace as it stands: a broken edit of the
# rules or templates ("rules": the last good ones run), or of outreach.yaml ("config": nothing
# is sent). Written by the daemon, cleared when fixed and when it stops; for `outreach status`.
fallbacks = Table(
    "fallbacks",
    metadata,
    Column("topic", String(20), primary_key=True),
    Column("since", String(40), nullable=False),
    Column("reason", Text, nullable=False),
)


class _FitsPostgres:
    """Text as PostgreSQL will store it. SQLite keeps any text whole; PostgreSQL refuses the
    character NUL and text longer than its column, and one such value (a contact id with a
    NUL in it, a server's long etag or message id) would fail the whole transaction — a plan
    for everyone, or the record of a message already sent. There NUL is written as U+FFFD,
    and what is too long is cut to fit (ids that make keys are bounded where they enter, see
    outreach.core.keys, so no key is ever cut)."""

    impl: Any

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "postgresql" or not isinstance(value, str):
            return value
        value = value.replace("\x00", "\ufffd")
        length = self.impl.length
        return value[:length] if length is not None else value


class _StoredString(_FitsPostgres, TypeDecorator[str]):
    impl = String
    cache_ok = True


class _StoredText(_FitsPostgres, TypeDecorator[str]):
    impl = Text
    cache_ok = True


# Every text column, those added later included, is written so: the tables above say only
# what the schema is (their DDL, which migrations match, is unchanged).
for _column in (column for table in metadata.tables.values() for column in table.columns):
    if isinstance(_column.type, Text):
        _column.type = _StoredText()
    elif isinstance(_column.type, String):
        _column.type = _StoredString(_column.type.length)
