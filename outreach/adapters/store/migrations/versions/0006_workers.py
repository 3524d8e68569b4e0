"""Every daemon working on a store, with its heartbeat: several share a PostgreSQL store, and
`outreach status` lists them all.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, String

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        Column("holder", String(200), primary_key=True),
        Column("started_at", String(40), nullable=False),
        Column("heartbeat_at", String(40), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
