"""Feeds stored without the secrets in their urls: a feed is known by `feed_key` (its url
without `user:password@` and with secret-looking query values masked, plus a short hash of the
full url when anything was hidden), in the feeds table and in each entry's feed_url. The
daemon's feed job ticks, named after the old form, are dropped: the next tick writes them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import MetaData, Table, delete, select, update

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.store.migrations.rekey import Row, rekey

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def new_values(row: Row) -> dict[str, Any] | None:
    key = feed_key(row["url"])
    return None if key == row["url"] else {"url": key}


def upgrade() -> None:
    connection = op.get_bind()
    tables = MetaData()
    feeds = Table("feeds", tables, autoload_with=connection)
    entries = Table("entries", tables, autoload_with=connection)
    ticks = Table("ticks", tables, autoload_with=connection)
    rekey(connection, feeds, new_values)
    urls = connection.execute(select(entries.c.feed_url).distinct()).scalars().all()
    for url in urls:
        if (key := feed_key(url)) != url:
            connection.execute(
                update(entries).where(entries.c.feed_url == url).values(feed_url=key)
            )
    connection.execute(delete(ticks).where(ticks.c.job.like("feed:%")))


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
