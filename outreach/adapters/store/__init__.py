"""The store: what outreach remembers between runs, in SQLite (default) or PostgreSQL.

SQLAlchemy Core, no ORM; the tables are in `schema.py`, versioned by the migrations in
`migrations/` (Alembic):

    store     its id, made with it (the workspace records which store it uses: `identity.py`)
    feeds     one row per feed: conditional-GET state, last fetch, last error; known by
              `feed_key` (the url without its secrets)
    entries   news entries, one per story: by id, and the same story from two feeds (same
              normalised link) is stored once
    mentions  (entry, company) pairs the matcher found, with confidence and sentence
    outbox    every action decided on, once, under its occurrence key (`outbox.py`)
    channel_pauses  channels resting after a 429 or a 401

Where a store is (`location.py`) and how it is connected to (`connection.py`) have their
own modules. A new store is created at the newest schema on first use; one at an older
schema is brought up to date by `outreach db upgrade`, and until then every command says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, event, or_, select, update
from sqlalchemy.engine import URL, Connection

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.store import migrations
from outreach.adapters.store.connection import (
    engine_for,
    existing_file_only,
    file_ready,
    schema_step,
)
from outreach.adapters.store.location import located, sqlite_file
from outreach.adapters.store.schema import (
    add_new,
    entries,
    feeds,
    from_iso,
    iso,
    mentions,
    put,
    store,
)
from outreach.core.config import Config
from outreach.core.model import FeedEntry, Mention
from outreach.errors import StoreError, StoreLost

LOST = (
    "store: {file} was {what} while outreach worked on it; nothing more is sent. Restore the "
    "file (e.g. from a backup), or start over with a new store with `--new-store` (on "
    "`outreach run` or `outreach daemon`): what it knew is forgotten, so notes may go again"
)

# A feed whose poll started this share of its interval ago is not polled again: daemons'
# schedules drift apart by seconds, and one daemon's next poll must still find its turn.
FEED_TURN_SHARE = 0.8


class Store:
    def __init__(self, engine: Engine, store_id: str, file: Path | None = None) -> None:
        self.engine = engine
        self.id = store_id
        self.file = file  # a SQLite store's file, watched by `check_intact`
        self._file_identity = _identity(file) if file else None
        if file is not None:  # from now on, never create a new, empty file in its place
            event.listen(engine, "do_connect", existing_file_only)

    @classmethod
    def open(
        cls,
        url: str,
        root: Path,
        create: bool = True,
        memory_ok: bool = False,
        outside_workspace: Sequence[str] = (),
    ) -> Store | None:
        """The store at `url`, at this outreach's schema (a new one is created at it); with
        `create=False`, None when there is no store yet — no SQLite file, or an empty database
        (a reader or a dry run writes nothing). In-memory SQLite only with `memory_ok` (dry
        runs); a SQLite file outside the workspace only in a folder `outside_workspace`
        allows."""
        parsed = located(url, root, memory_ok, outside_workspace)
        file = sqlite_file(parsed)
        if file is not None and not file_ready(file, create):
            return None
        engine = engine_for(parsed)
        with schema_step(engine, parsed) as connection:
            store_id = _store_id(connection, parsed, create)
        if store_id is None:
            engine.dispose()
            return None
        return cls(engine, store_id, file)

    @classmethod
    def of(
        cls, config: Config, root: Path, create: bool = True, memory_ok: bool = False
    ) -> Store | None:
        """The store a workspace's outreach.yaml names, where it allows it to be (`open`)."""
        return cls.open(config.store, root, create, memory_ok, config.outside_workspace)

    @classmethod
    def schema(
        cls, url: str, root: Path, upgrade: bool = False, outside_workspace: Sequence[str] = ()
    ) -> tuple[str | None, str] | None:
        """The store's schema revision (None: an empty database, made at first use) and this
        outreach's, after upgrading it with `upgrade`; None when a SQLite store does not exist
        yet."""
        parsed = located(url, root, False, outside_workspace)
        file = sqlite_file(parsed)
        if file is not None and not file_ready(file, create=False):
            return None
        engine = engine_for(parsed)
        try:
            with schema_step(engine, parsed) as connection:
                revision = migrations.current(connection)
                if upgrade and revision not in (None, migrations.head()):
                    if engine.dialect.name == "sqlite":  # what is rewritten leaves no trace
                        connection.exec_driver_sql("PRAGMA secure_delete=ON")
                    if not migrations.known(revision):
                        raise StoreError(_outdated(parsed, revision))
                    migrations.upgrade(connection)
        finally:
            engine.dispose()
        return revision, migrations.head()

    def check_intact(self) -> None:
        """Raise StoreLost when the SQLite file was deleted or replaced since it was opened:
        what this process would record from now on would be lost, or start a new store."""
        if self.file is None:
            return
        try:
            identity: tuple[int, int] | None = _identity(self.file)
        except FileNotFoundError:
            identity = None
        if identity != self._file_identity:
            what = "deleted" if identity is None else "replaced"
            raise StoreLost(LOST.format(file=self.file, what=what))

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

    def take_feed_turn(
        self, url: str, now: datetime, every: timedelta, by: str | None = None
    ) -> bool:
        """Whether this process polls the feed now: nobody (this process included) started a
        poll of it within most of its interval. Several daemons on one store each schedule
        every feed; the first to come takes the turn and the others let it pass, so a feed
        is read once an interval whatever the number of daemons. `by`: the daemon taking it
        (for `outreach status`)."""
        key, since = feed_key(url), iso(now - every * FEED_TURN_SHARE)
        with self.transaction() as connection:
            add_new(connection, feeds, {"url": key, "entries_seen": 0})
            free = or_(feeds.c.last_fetch.is_(None), feeds.c.last_fetch <= since)
            taken = (
                update(feeds)
                .where(feeds.c.url == key, free)
                .values(last_fetch=iso(now), polled_by=by)
                .returning(feeds.c.url)
            )
            return connection.execute(taken).first() is not None

    def feed_state(self, url: str) -> dict[str, str | None]:
        with self.engine.connect() as connection:
            query = select(feeds).where(feeds.c.url == feed_key(url))
            row = connection.execute(query).mappings().first()
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
        values.update(url=feed_key(url), entries_seen=new_entries)
        put(connection, feeds, values, entries_seen=feeds.c.entries_seen + new_entries)

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
            values = {
                "id": entry.id,
                "link_key": link_key,
                "feed_url": feed_key(feed_url),
                "language": language,
                "title": entry.title,
                "link": entry.link,
                "published": iso(entry.published),
                "summary": entry.summary,
                "first_seen": iso(when),
            }
            if add_new(connection, entries, values):  # not by a scan running meanwhile
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
            values = {
                "entry_id": mention.entry.id,
                "company_id": mention.company_id,
                "sentence": mention.sentence,
                "confidence": mention.confidence,
                "found_at": iso(when),
            }
            add_new(connection, mentions, values)

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


def _store_id(connection: Connection, url: URL, create: bool) -> str | None:
    """The store's id, once its schema is this outreach's; an empty database is made a store
    only with `create` (else None: a reader, or a dry run, writes nothing)."""
    revision = migrations.current(connection)
    if revision is None:
        if not create:
            return None
        migrations.upgrade(connection)  # a new store
    elif revision != migrations.head():
        raise StoreError(_outdated(url, revision))
    return str(connection.execute(select(store.c.id)).scalar_one())


def _outdated(url: URL, revision: str) -> str:
    shown, head = url.render_as_string(), migrations.head()
    if not migrations.known(revision):
        return (
            f"store: {shown} was made by a newer outreach (schema {revision}; this one knows "
            f"up to {head}): run that version"
        )
    return (
        f"store: {shown} has an older schema ({revision}; this outreach needs {head}): back "
        "it up, then run `outreach db upgrade`"
    )


def _identity(file: Path) -> tuple[int, int]:
    found = file.stat()
    return found.st_dev, found.st_ino
