"""The store: what outreach remembers between runs, in SQLite (default) or PostgreSQL.

SQLAlchemy Core, no ORM; the tables are in `schema.py`, created on first use:

    feeds     one row per feed url: conditional-GET state, last fetch, last error
    entries   news entries, one per story: by id, and the same story from two feeds (same
              normalised link) is stored once
    mentions  (entry, company) pairs the matcher found, with confidence and sentence
    outbox    every action decided on, once, under its occurrence key (`outbox.py`)
    channel_pauses  channels resting after a 429 or a 401

A newer outreach adds the columns it needs to an older store when it opens it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, inspect, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from outreach.adapters.store.schema import entries, feeds, from_iso, iso, mentions, metadata
from outreach.core.model import FeedEntry, Mention
from outreach.errors import UserError

BUSY_TIMEOUT_MS = 30_000
_CHECK_ACCESS = "check that this user may read and write it and its folder"


def database_url(url: str, root: Path) -> str:
    """The store URL with a relative SQLite path made relative to the workspace."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"store: '{url}' is not a database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_absolute():
            path = root / path
        return str(parsed.set(database=str(path)))
    return url


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, root: Path, create: bool = True) -> Store | None:
        """The store at `url`; with `create=False`, None when a SQLite file does not exist yet
        (a dry run writes nothing, not even an empty database)."""
        full = database_url(url, root)
        parsed = make_url(full)
        where = parsed.render_as_string()  # a password shown as ***
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            where = parsed.database
            if not _sqlite_file(Path(where), create):
                return None
        try:
            engine = create_engine(full, future=True)
        except (NoSuchModuleError, ImportError) as exc:
            raise UserError(f"store: no driver for '{parsed.drivername}' ({exc})") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        try:
            with engine.connect() as connection:  # several processes may open it at once
                connection.execution_options(sqlite_immediate=True)
                with connection.begin():
                    metadata.create_all(connection)
                    _add_missing_columns(connection)
        except DatabaseError as exc:
            raise UserError(f"store {where} cannot be used: {exc.orig}; {advice(exc)}") from None
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE):
        what it reads stays true until it commits, and a second writer waits its turn instead
        of failing half-way."""
        with self.engine.connect() as connection:
            connection.execution_options(sqlite_immediate=True)
            with connection.begin():
                yield connection

    def feed_state(self, url: str) -> dict[str, str | None]:
        with self.engine.connect() as connection:
            row = connection.execute(select(feeds).where(feeds.c.url == url)).mappings().first()
        return dict(row) if row else {}

    def record_fetch(
        self,
        connection: Connection,
        url: str,
        when: datetime,
        status: str,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        new_entries: int = 0,
    ) -> None:
        values: dict[str, object] = {
            "last_fetch": iso(when),
            "last_status": status,
            "last_error": error,
        }
        if status == "fetched":
            values.update(etag=etag, last_modified=last_modified)
        exists = connection.execute(select(feeds.c.url).where(feeds.c.url == url)).first()
        if exists:
            values["entries_seen"] = feeds.c.entries_seen + new_entries
            connection.execute(update(feeds).where(feeds.c.url == url).values(**values))
        else:
            connection.execute(insert(feeds).values(url=url, entries_seen=new_entries, **values))

    def add_entries(
        self,
        connection: Connection,
        found: Iterable[tuple[FeedEntry, str]],
        feed_url: str,
        language: str,
        when: datetime,
    ) -> list[FeedEntry]:
        """Store entries not seen before (by id, or by normalised link); return the new ones."""
        new: list[FeedEntry] = []
        for entry, link_key in found:
            known = connection.execute(
                select(entries.c.id).where(
                    (entries.c.id == entry.id)
                    | ((entries.c.link_key == link_key) & (link_key != ""))
                )
            ).first()
            if known:
                continue
            connection.execute(
                insert(entries).values(
                    id=entry.id,
                    link_key=link_key,
                    feed_url=feed_url,
                    language=language,
                    title=entry.title,
                    link=entry.link,
                    published=iso(entry.published),
                    summary=entry.summary,
                    first_seen=iso(when),
                )
            )
            new.append(entry)
        return new

    def known_entries(self, ids: list[str], link_keys: list[str]) -> set[str]:
        """Which of these entry ids and link keys the store already has."""
        keys = [k for k in link_keys if k]
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(entries.c.id, entries.c.link_key).where(
                    entries.c.id.in_(ids) | entries.c.link_key.in_(keys)
                )
            ).all()
        return {value for row in rows for value in row if value}

    def add_mentions(
        self, connection: Connection, found: Iterable[Mention], when: datetime
    ) -> None:
        for mention in found:
            connection.execute(
                insert(mentions).values(
                    entry_id=mention.entry.id,
                    company_id=mention.company_id,
                    sentence=mention.sentence,
                    confidence=mention.confidence,
                    found_at=iso(when),
                )
            )

    def mentions(self) -> list[Mention]:
        """Every stored mention, with its entry; an entry without a date is dated when first
        seen, which is when outreach could first have known of it."""
        query = select(mentions, entries).join(entries, mentions.c.entry_id == entries.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            Mention(
                company_id=row["company_id"],
                entry=FeedEntry(
                    id=row["id"],
                    title=row["title"],
                    link=row["link"],
                    published=from_iso(row["published"]) or from_iso(row["first_seen"]),
                    summary=row["summary"],
                ),
                sentence=row["sentence"],
                confidence=row["confidence"],
                found=from_iso(row["found_at"]),
            )
            for row in rows
        ]


def _sqlite_file(path: Path, create: bool) -> bool:
    """Whether the store's file is there (its folder made, with `create`); UserError when a
    file could never be there."""
    try:
        if path.is_dir():
            raise UserError(f"store {path} is a folder: name a file in `store:` in outreach.yaml")
        for folder in path.parents:
            if folder.exists() and not folder.is_dir():
                raise UserError(f"store {path} cannot be made: {folder} is not a folder")
        try:
            path.stat()  # a symlink loop says so here
        except FileNotFoundError:
            if not create:
                return False
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"store {path} cannot be used: {exc.strerror}; {_CHECK_ACCESS}") from None
    return True


def advice(exc: DatabaseError) -> str:
    """What to do about a store that fails."""
    said = str(exc.orig)
    if "locked" in said:
        return "another outreach is writing to it; try again"
    if not isinstance(exc.orig, sqlite3.Error):
        return "check that the database is reachable and `store:` in outreach.yaml names it"
    if isinstance(exc, OperationalError) and any(
        trouble in said for trouble in ("unable to open", "readonly", "I/O")
    ):
        return _CHECK_ACCESS
    return (
        "it is not an outreach store, or it is damaged: restore it from a backup, "
        "or point `store:` in outreach.yaml at another file"
    )


def _add_missing_columns(connection: Connection) -> None:
    """Columns added since the store was created; each new one is nullable or has a default."""
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(connection.dialect)
            default = getattr(column.default, "arg", None)
            extra = f" NOT NULL DEFAULT {default!r}" if default is not None else ""
            connection.exec_driver_sql(
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{extra}"
            )


def _sqlite_begin(connection: Connection) -> None:
    # pysqlite's own transaction handling is off (see `_sqlite_pragmas`): we say BEGIN.
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(connection: object, _record: object) -> None:
    # Autocommit at the driver, so that BEGIN is ours to say (and savepoints work).
    connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """WAL: readers do not block the daemon's writes. Changing the journal mode does not wait
    for a busy file (SQLite skips the busy handler there), so while another process creates
    the same store, wait here as busy_timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
