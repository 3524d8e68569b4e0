"""What `queue list`, `history` and `status` need to tell people the whole story: the
recipient's time zone of each outbox row (rows made before it show in the workspace's zone),
a person's last word on a row (`retry requested by …`), each daemon job's interval (a tick
older than a few intervals is stale), and what the daemon runs on when it kept the last good
rules or configuration after a broken edit.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Float, String, Text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(Column("timezone", String(64)))
        outbox.add_column(Column("note", Text))
    with op.batch_alter_table("ticks") as ticks:
        ticks.add_column(Column("every", Float))
    op.create_table(
        "fallbacks",
        Column("topic", String(20), primary_key=True),
        Column("since", String(40), nullable=False),
        Column("reason", Text, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
