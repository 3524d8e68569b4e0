"""Several daemons on one PostgreSQL store share the planning: each plans the shards of the
contacts it holds a lease on (`shard_leases`); and `outreach status` tells which daemon took
each feed's last turn (`feeds.polled_by`).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Integer, String

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shard_leases",
        Column("shard", Integer, primary_key=True, autoincrement=False),
        Column("holder", String(200)),
        Column("taken_at", String(40)),
        Column("expires_at", String(40)),
    )
    with op.batch_alter_table("feeds") as feeds:
        feeds.add_column(Column("polled_by", String(200)))


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
