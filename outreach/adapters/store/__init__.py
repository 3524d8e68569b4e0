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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, inspect, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.store.schema import entries, feeds, from_iso, iso, mentions, metadata
from outreach.core.model import FeedEntry, Mention
from outreach.errors import UserError

BUSY_TIMEOUT_MS = 30_000


def database_url(url: str, root: Path, outside_workspace: Sequence[str] = ()) -> str:
    """The store URL with a relative SQLite path made relative to the workspace. A SQLite file
    (or the journal files beside it) outside the workspace is refused, even through a symbolic
    link, unless it is in a folder `outside_workspace` allows."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"store: '{url}' is not a database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = root / (parsed.database or "")
        try:
            path = _confined(path, Boundary.of(root, outside_workspace))
        except Refused as exc:
            raise UserError(f"store: {path}: {exc}") from None
        return str(parsed.set(database=str(path)))
    return url


def _confined(path: Path, boundary: Boundary) -> Path:
    """The database file with symlinks resolved, the files SQLite keeps beside it included."""
    found = boundary.confine(path)
    for suffix in ("-journal", "-wal", "-shm"):
        boundary.confine(found.with_name(found.name + suffix))
    return found


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(
        cls, url: str, root: Path, create: bool = True, outside_workspace: Sequence[str] = ()
    ) -> Store | None:
        """The store at `url`; with `create=False`, None when a SQLite file does not exist yet
        (a dry run writes nothing, not even an empty database). `outside_workspace`: the
        folders outreach.yaml allows outside the workspace."""
        full = database_url(url, root, outside_workspace)
        parsed = make_url(full)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            path = Path(parsed.database)
            if not create and not path.exists():
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
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
        except OperationalError as exc:
            raise UserError(f"store: cannot open {parsed.render_as_string()}: {exc.orig}") from None
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
