"""Every table of the store, in one metadata, and how times are written: UTC ISO-8601 text,
which sorts correctly and reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, Text

metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("url", String(2000), primary_key=True),
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    Column("last_fetch", String(40)),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("entries_seen", Integer, nullable=False, default=0),
)

entries = Table(
    "entries",
    metadata,
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

mentions = Table(
    "mentions",
    metadata,
    Column("entry_id", String(2000), ForeignKey("entries.id"), primary_key=True),
    Column("company_id", String(500), primary_key=True),
    Column("sentence", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("found_at", String(40), nullable=False),
)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", String(500)),
    Column("last_error", Text),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
