"""For migrations that change primary keys: rows are deleted and written again under their
new keys in one go, so a new key may be another row's old one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, select, tuple_
from sqlalchemy.engine import Connection

Row = Mapping[str, Any]


def rekey(
    connection: Connection,
    table: Table,
    changed: Callable[[Row], dict[str, Any] | None],
    among: ColumnElement[bool] | None = None,
) -> int:
    """Rewrite each row (`among` those that may change) for which `changed` gives new
    values, its new key among them."""
    query = select(table) if among is None else select(table).where(among)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    moves = [(row, new) for row in rows if (new := changed(row)) is not None]
    if not moves:
        return 0
    primary = list(table.primary_key.columns)
    old_keys = [tuple(row[c.name] for c in primary) for row, _ in moves]
    for chunk in range(0, len(old_keys), 500):
        connection.execute(delete(table).where(tuple_(*primary).in_(old_keys[chunk : chunk + 500])))
    connection.execute(insert(table), [{**row, **new} for row, new in moves])
    return len(moves)
