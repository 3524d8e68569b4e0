"""The store's id: a uuid made with it, which the workspace records beside itself
(`.outreach/store.json`) so that a store lost or replaced is noticed, not silently
started afresh.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import Column, String

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    store = op.create_table(
        "store",
        Column("id", String(36), primary_key=True),
        Column("created_at", String(40), nullable=False),
    )
    created = datetime.now(UTC).isoformat(timespec="seconds")
    op.bulk_insert(store, [{"id": str(uuid.uuid4()), "created_at": created}])


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
