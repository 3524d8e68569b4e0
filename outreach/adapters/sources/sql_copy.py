"""PostgreSQL's fast path out of a SQL source: `COPY (SELECT ...) TO STDOUT` as CSV, every
cell the text `sql.text_of` would make of the value, written by the server with no Python
object per value. `SqlRows` reads PostgreSQL this way (`copied`); a reader that takes CSV
whole (a columnar engine) can have it in a file:

    with path.open("wb") as out:
        header = copy_csv(place, out)       # the header in our column names
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any, BinaryIO

from outreach.adapters.sources.sql import SourceUnusable, SqlPlace, engine_for_reading

BOOLEAN, TIMESTAMP, TIMESTAMPTZ = 16, 1114, 1184  # PostgreSQL type OIDs
COPY_OPTIONS = "FORMAT csv, HEADER true"


def copy_csv(place: SqlPlace, out: BinaryIO) -> list[str]:
    """Write the rows of `place` to `out` as CSV; returns the header (our names)."""
    ours = {theirs: our for our, theirs in place.setting.columns.items()}
    header: list[str] = []
    for chunk in copied(place, ours):
        if not header:
            header = next(iter(_csv_rows([bytes(chunk)])))
        out.write(chunk)
    return header


def copied(place: SqlPlace, rename: dict[str, str] | None = None) -> Iterator[bytes]:
    """The rows of `place` as CSV, in the pieces the server sends: a header of the
    database's column names (or, for those `rename` names, the new ones), then the rows."""
    if place.url.get_backend_name() != "postgresql":
        raise SourceUnusable(f"{place.shown_as}: COPY is PostgreSQL's; read it with SqlRows")
    ours = rename or {}
    with engine_for_reading(place.url).connect() as connection:
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute("SET LOCAL DateStyle TO ISO")
            inner = _selection(place, raw)
            cursor.execute(f"SELECT * FROM ({inner}) AS source LIMIT 0")
            columns = [(column.name, column.type_code) for column in cursor.description or ()]
            arrays = _array_types(cursor, {oid for _, oid in columns})
            header = [ours.get(name, name) for name, _ in columns]
            cells = ", ".join(
                f"{_as_cell(_quoted(raw, name), oid, arrays)} AS {_quoted(raw, our)}"
                for (name, oid), our in zip(columns, header, strict=True)
            )
            statement = f"COPY (SELECT {cells} FROM ({inner}) AS source) TO STDOUT ({COPY_OPTIONS})"
            with cursor.copy(statement) as copy:
                yield from copy


def _csv_rows(chunks: Iterator[bytes] | list[bytes]) -> Iterator[list[str]]:
    import csv

    return csv.reader(csv_lines(chunks))


def csv_lines(chunks: Iterator[bytes] | list[bytes]) -> Iterator[str]:
    """UTF-8 CSV in pieces cut anywhere, as lines (a quoted line break stays in its line's
    text: csv.reader joins the lines of one record)."""
    decode = codecs.getincrementaldecoder("utf-8")().decode
    rest = ""
    for piece in _joined(chunks):
        *lines, rest = (rest + decode(piece)).split("\n")
        for line in lines:
            yield line + "\n"
    rest += decode(b"", final=True)
    if rest:
        yield rest


def _joined(chunks: Iterator[bytes] | list[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The pieces gathered about `size` bytes at a time (the server sends one per row)."""
    gathered: list[bytes] = []
    held = 0
    for chunk in chunks:
        gathered.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(gathered)
            gathered, held = [], 0
    if gathered:
        yield b"".join(gathered)


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
