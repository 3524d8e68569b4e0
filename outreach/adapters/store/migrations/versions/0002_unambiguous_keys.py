"""Unambiguous occurrence keys: each part of `rule:contact:occurrence` has '%' and ':'
percent-encoded (see outreach.core.keys), so ids holding ':' no longer make two actions share
one key. A row's rule_id and contact_id tell where its old key split; keys without those
characters stay as they are.

A row interrupted while sending (`sending`) under a key that changes is set `ambiguous`: its
receiver may know it by the old key, so a person checks before it goes again.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import MetaData, Table, or_

from outreach.adapters.store.migrations.rekey import Row, rekey

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INTERRUPTED = (
    "interrupted while sending before outreach changed its keys (the receiver may know it as "
    "{old}); check, then `outreach queue retry`"
)


def escaped(part: str) -> str:
    # This revision's format, written out: the current one may change in a later revision.
    return part.replace("%", "%25").replace(":", "%3A")


def new_values(row: Row) -> dict[str, Any] | None:
    old, prefix = row["key"], f"{row['rule_id']}:{row['contact_id']}:"
    if not old.startswith(prefix):
        return None  # not made by planning
    parts = (row["rule_id"], row["contact_id"], old[len(prefix) :])
    key = ":".join(escaped(part) for part in parts)
    if key == old:
        return None
    if row["status"] == "sending":
        return {"key": key, "status": "ambiguous", "claimed_by": None,
                "last_error": INTERRUPTED.format(old=old)}  # fmt: skip
    return {"key": key}


def upgrade() -> None:
    connection = op.get_bind()
    outbox = Table("outbox", MetaData(), autoload_with=connection)
    maybe = or_(  # only these can change: a '%' anywhere, or a ':' inside a part
        outbox.c.key.contains("%", autoescape=True),
        outbox.c.contact_id.contains(":", autoescape=True),
        outbox.c.key.like("%:%:%:%"),
    )
    rekey(connection, outbox, new_values, among=maybe)


def downgrade() -> None:
    raise NotImplementedError("outreach's schema is never downgraded; restore a backup")
