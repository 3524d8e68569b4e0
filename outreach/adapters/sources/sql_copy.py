"""PostgreSQL's fast path out of a SQL source: `COPY (SELECT ...) TO STDOUT` as CSV, the
header in our column names and every cell the text `SqlRows` would give (`sql.text_of`),
written by the server with no Python object per row. For a reader that takes CSV whole (a
columnar engine); the row loaders read `SqlRows`.

    with path.open("wb") as out:
        header = copy_csv(place, out)
"""

from __future__ import annotations

from typing import Any, BinaryIO

from outreach.adapters.sources.sql import SourceUnusable, SqlPlace, engine_for_reading

BOOLEAN, TIMESTAMP, TIMESTAMPTZ = 16, 1114, 1184  # PostgreSQL type OIDs
COPY_OPTIONS = "FORMAT csv, HEADER true"


def copy_csv(place: SqlPlace, out: BinaryIO) -> list[str]:
    """Write the rows of `place` to `out` as CSV; returns the header (our names)."""
    if place.url.get_backend_name() != "postgresql":
        raise SourceUnusable(f"{place.shown_as}: COPY is PostgreSQL's; read it with SqlRows")
    with engine_for_reading(place.url).connect() as connection:
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute("SET LOCAL DateStyle TO ISO")
            inner = _selection(place, raw)
            cursor.execute(f"SELECT * FROM ({inner}) AS source LIMIT 0")
            columns = [(column.name, column.type_code) for column in cursor.description or ()]
            arrays = _array_types(cursor, {oid for _, oid in columns})
            ours = {theirs: our for our, theirs in place.setting.columns.items()}
            header = [ours.get(name, name) for name, _ in columns]
            cells = ", ".join(
                f"{_as_cell(_quoted(raw, name), oid, arrays)} AS {_quoted(raw, our)}"
                for (name, oid), our in zip(columns, header, strict=True)
            )
            statement = f"COPY (SELECT {cells} FROM ({inner}) AS source) TO STDOUT ({COPY_OPTIONS})"
            with cursor.copy(statement) as copy:
                for chunk in copy:
                    out.write(chunk)
    return header


def _selection(place: SqlPlace, raw: Any) -> str:
    setting = place.setting
    if setting.query:
        return setting.query
    table = ".".join(_quoted(raw, part) for part in (setting.table or "").split("."))
    return f"SELECT * FROM {table}"


def _quoted(raw: Any, name: str) -> str:
    from psycopg import sql

    return str(sql.Identifier(name).as_string(raw))


def _array_types(cursor: Any, oids: set[int]) -> set[int]:
    cursor.execute(
        "SELECT oid FROM pg_type WHERE typcategory = 'A' AND oid = ANY(%s)", [list(oids)]
    )
    return {int(row[0]) for row in cursor.fetchall()}


def _as_cell(column: str, oid: int, arrays: set[int]) -> str:
    """The SQL that gives a column's value as `text_of` writes it."""
    if oid == BOOLEAN:
        return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
    if oid in arrays:
        return f"array_to_string({column}, ';')"
    if oid == TIMESTAMP:  # midnight: the day alone
        return (
            f"CASE WHEN {column} = date_trunc('day', {column}) THEN to_char({column}, "
            f"'YYYY-MM-DD') ELSE to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') END"
        )
    if oid == TIMESTAMPTZ:
        return f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SSOF')"
    return column
