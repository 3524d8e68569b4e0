"""What `queue list`, `history` and `status` need to tell people the whole story: each outbox
row's key digest (its handle is a prefix of it: `outreach.core.handles`), the recipient's
time zone of each row (rows made before it show in the workspace's zone),
a person's last word on a row (`retry requested by …`), each daemon job's interval (a tick
older than a few intervals is stale), and what the daemon runs on when it kept the last good
rules or configuration after a broken edit.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib

from alembic import op
from sqlalchemy import Column, Float, MetaData, String, Table, Text, bindparam, select, update

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(Column("digest", String(64)))
        outbox.add_column(Column("timezone", String(64)))
        outbox.add_column(Column("note", Text))
        outbox.create_index("ix_outbox_digest", ["digest"])
    _fill_digests()
    with op.batch_alter_table("ticks") as ticks:
        ticks.add_column(Column("every", Float))
    op.create_table(
        "fallbacks",
        Column("topic", String(20), primary_key=True),
        Column("since", String(40), nullable=False),
        Column("reason", Text, nullable=False),
    )


def _fill_digests() -> None:
    connection = op.get_bind()
    outbox = Table("outbox", MetaData(), autoload_with=connection)
    keys = list(connection.execute(select(outbox.c.key)).scalars())
    for start in range(0, len(keys), 1000):
        connection.execute(
            update(outbox).where(outbox.c.key == bindparam("the_key")),
            [{"the_key": key, "digest": _digest(key)} for key in keys[start : start + 1000]],
        )


def _digest(key: str) -> str:
    # This revision's digest, written out: the current one may change in a later revision.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
