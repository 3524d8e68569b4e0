"""The schema before versioning: stores made by outreach up to 0.1 are taken as this revision.

On an empty database it creates the tables; on a store made by an earlier outreach (no
alembic_version table) it adds what that one lacks: tables added since, and columns added
since (each nullable or with a default). The tables are written out here as they were, so
this revision stays what it is when `schema.py` moves on.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import Connection

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

snapshot = MetaData()
Table(
    "feeds",
    snapshot,
    Column("url", String(2000), primary_key=True),
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    Column("last_fetch", String(40)),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("entries_seen", Integer, nullable=False, default=0),
)
Table(
    "entries",
    snapshot,
    Column("id", String(2000), primary_key=True),
    Column("link_key", String(2000), index=True),
    Column("feed_url", String(2000), nullable=False),
    Column("language", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("published", String(40)),
    Column("summary", Text, nullable=False),
    Column("first_seen", String(40), nullable=False),
)
Table(
    "mentions",
    snapshot,
    Column("entry_id", String(2000), ForeignKey("entries.id"), primary_key=True),
    Column("company_id", String(500), primary_key=True),
    Column("sentence", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("found_at", String(40), nullable=False),
)
Table(
    "outbox",
    snapshot,
    Column("key", String(2000), primary_key=True),
    Column("rule_id", String(500), nullable=False, index=True),
    Column("contact_id", String(500), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("send_at", String(40), nullable=False, index=True),
    Column("payload", Text, nullable=False),
    Column("deadline", String(40)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("doubtful", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40)),
    Column("claimed_by", String(200)),
    Column("provider_id", String(500)),
    Column("last_error", Text),
    Column("sent_at", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
Table(
    "channel_pauses",
    snapshot,
    Column("channel", String(20), primary_key=True),
    Column("paused_until", String(40), nullable=False),
    Column("reason", Text, nullable=False),
)
Table(
    "daemons",
    snapshot,
    Column("store", String(20), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("heartbeat_at", String(40), nullable=False),
)
Table(
    "ticks",
    snapshot,
    Column("job", String(2100), primary_key=True),
    Column("started_at", String(40), nullable=False),
    Column("seconds", Float),
    Column("error", Text),
)


def upgrade() -> None:
    connection = op.get_bind()
    snapshot.create_all(connection, checkfirst=True)
    _add_missing_columns(connection)


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")


def _add_missing_columns(connection: Connection) -> None:
    inspector = inspect(connection)
    for table in snapshot.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(connection.dialect)
            default = getattr(column.default, "arg", None)
            extra = f" NOT NULL DEFAULT {default!r}" if default is not None else ""
            connection.exec_driver_sql(
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{extra}"
            )
