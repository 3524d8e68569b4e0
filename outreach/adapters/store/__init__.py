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
    daemons, workers, ticks, fallbacks   the daemons' own records (`daemons.py`)

Services use it through `outreach.ports.Store`: `unit()` is a write transaction, `view()`
reads, each a `SqlUnit` (`unit.py`) whose methods are the statements of `outbox.py`,
`daemons.py` and `feeds.py` — the only modules that turn rows into values.

Where a store is (`location.py`) and how it is connected to (`connection.py`) have their
own modules. A new store is created at the newest schema on first use; one at an older
schema is brought up to date by `outreach db upgrade`, and until then every command says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, select
from sqlalchemy.engine import URL, Connection

from outreach.adapters.store import migrations
from outreach.adapters.store.connection import (
    engine_for,
    existing_file_only,
    file_ready,
    schema_step,
)
from outreach.adapters.store.location import located, sqlite_file
from outreach.adapters.store.schema import store
from outreach.adapters.store.unit import SqlUnit
from outreach.core.config import Config
from outreach.errors import StoreError, StoreLost

LOST = (
    "store: {file} was {what} while outreach worked on it; nothing more is sent. Restore the "
    "file (e.g. from a backup), or start over with a new store with `--new-store` (on "
    "`outreach run` or `outreach daemon`): what it knew is forgotten, so notes may go again"
)


class SqlStore:
    """A store in SQLite or PostgreSQL (`outreach.ports.Store`)."""

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
    ) -> SqlStore | None:
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
    ) -> SqlStore | None:
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

    @property
    def shared(self) -> bool:
        """Several daemons may work on it at once: PostgreSQL (SQLite: one daemon holds it)."""
        return not self.is_sqlite

    @contextmanager
    def unit(self) -> Iterator[SqlUnit]:
        """A unit of work (`outreach.ports.Unit`): `transaction`, its statements typed."""
        with self.transaction() as connection:
            yield SqlUnit(connection)

    @contextmanager
    def view(self) -> Iterator[SqlUnit]:
        """Reads, without the write lock (WAL readers never wait for the daemon); whatever
        is written here is rolled back."""
        with self.engine.connect() as connection:
            yield SqlUnit(connection)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE):
        what it reads stays true until it commits, and a second writer waits its turn instead
        of failing half-way."""
        with self.engine.connect() as connection:
            connection.execution_options(sqlite_immediate=True)
            with connection.begin():
                yield connection


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
