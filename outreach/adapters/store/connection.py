"""Connecting to a store: the engine, the SQLite settings, the lock under which a schema is
made, and what to tell the user when a database fails."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import SingletonThreadPool

from outreach.adapters.store.location import in_memory, sqlite_file
from outreach.errors import UserError

BUSY_TIMEOUT_MS = 30_000
CHECK_ACCESS = "check that this user may read and write it and its folder"
SCHEMA_LOCK = 0x6F7575  # PostgreSQL advisory lock: one process creates or upgrades at a time


def engine_for(url: URL) -> Engine:
    # One connection per thread keeps an in-memory database (a dry run's) alive.
    options = {"poolclass": SingletonThreadPool} if in_memory(url) else {}
    try:
        engine = create_engine(url, future=True, **options)
    except (NoSuchModuleError, ImportError) as exc:
        raise UserError(f"store: no driver for '{url.drivername}' ({exc})") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextmanager
def schema_step(engine: Engine, url: URL) -> Iterator[Connection]:
    """A transaction that holds the write lock while it looks at (and makes or upgrades) the
    schema: several processes may open a new store at once, and one makes it."""
    try:
        with engine.connect() as connection:
            connection.execution_options(sqlite_immediate=True)
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
                yield connection
    except DatabaseError as exc:
        where = sqlite_file(url) or url.render_as_string()  # a password shown as ***
        raise UserError(f"store {where} cannot be used: {exc.orig}; {advice(exc)}") from None


def file_ready(path: Path, create: bool) -> bool:
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
        raise UserError(f"store {path} cannot be used: {exc.strerror}; {CHECK_ACCESS}") from None
    return True


def advice(exc: DatabaseError) -> str:
    """What to do about a store that fails."""
    said = str(exc.orig)
    if "locked" in said:
        return "another outreach is writing to it; try again"
    if not isinstance(exc.orig, sqlite3.Error):
        if "password" in said:  # none given, or refused
            return "give its password in the environment: PGPASSWORD, or a ~/.pgpass file"
        return "check that the database is reachable and `store:` in outreach.yaml names it"
    if isinstance(exc, OperationalError) and any(
        trouble in said for trouble in ("unable to open", "readonly", "I/O")
    ):
        return CHECK_ACCESS
    return (
        "it is not an outreach store, or it is damaged: restore it from a backup, "
        "or point `store:` in outreach.yaml at another file"
    )


def existing_file_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
    # A SQLite connection to a missing file would create it, empty: open it only as it is.
    cargs[0] = f"file:{quote(str(cargs[0]))}?mode=rw"
    cparams["uri"] = True


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
