"""Versioned schema migrations, with Alembic: the scripts ship in `versions/`, one per change,
and run in code (no alembic.ini) on SQLite and PostgreSQL.

    0001  the schema before versioning; a store made by an earlier outreach (no
          alembic_version table) is taken as this revision, and any column it still
          lacks is added
    0002  unambiguous occurrence keys
    0003  feeds stored without the secrets in their urls
    0004  the store's id
    0005  rows' time zones and notes, ticks' intervals, the daemon's fallbacks

A new store is created at the head revision on first use. An existing store at an older one
is upgraded by `outreach db upgrade` alone: every other command stops and says so.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

HERE = Path(__file__).parent
UNVERSIONED = "unversioned"  # made before migrations: upgraded from 0001


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    found = _scripts().get_current_head()
    assert found is not None
    return found


def known(revision: str) -> bool:
    return revision == UNVERSIONED or any(
        s.revision == revision for s in _scripts().walk_revisions()
    )


def current(connection: Connection) -> str | None:
    """The store's revision; UNVERSIONED for a store made before migrations; None for an
    empty database (a new store)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is not None:
        return revision
    return UNVERSIONED if inspect(connection).has_table("outbox") else None


def upgrade(connection: Connection) -> None:
    """Bring the store to the head revision, in the caller's transaction."""
    command.upgrade(_config(connection), "head")
