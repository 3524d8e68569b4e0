"""Where a store is: its URL, placed in the workspace, and what may be shown of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from outreach.adapters.sources.files import Boundary, Refused
from outreach.errors import StoreError, UserError

IN_MEMORY = (
    "store: '{url}' is an in-memory database: what it records is forgotten when the command "
    "ends, so the next run would send everything again. Use a file (sqlite:///outreach.db) "
    "or PostgreSQL; in-memory stores are for `preview`, `explain` and `validate` only"
)


def database_url(url: str, root: Path, outside_workspace: Sequence[str] = ()) -> str:
    """The store URL with a relative SQLite path made relative to the workspace. A SQLite file
    (or the journal files beside it) outside the workspace is refused, even through a symbolic
    link, unless it is in a folder `outside_workspace` allows."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"store: '{url}' is not a database URL ({exc})") from None
    try:
        found = store_file(url, root, outside_workspace)
    except Refused as exc:
        raise UserError(f"store {root / (parsed.database or '')} cannot be used: {exc}") from None
    return url if found is None else str(parsed.set(database=str(found)))


def store_file(url: str, root: Path, outside_workspace: Sequence[str] = ()) -> Path | None:
    """A SQLite store's file, symlinks resolved; None for a database that is not a file (or
    a URL that does not parse: `database_url` says so). Refused when it (or a journal file
    beside it) lies outside the workspace and the folders `outside_workspace` allows."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or in_memory(parsed):
        return None
    return _confined(root / (parsed.database or ""), Boundary.of(root, outside_workspace))


def _confined(path: Path, boundary: Boundary) -> Path:
    """The database file with symlinks resolved, the files SQLite keeps beside it included."""
    found = boundary.confine(path)
    for suffix in ("-journal", "-wal", "-shm"):
        boundary.confine(found.with_name(found.name + suffix))
    return found


def shown_url(url: str) -> str:
    """The store URL as put in messages: without its password."""
    try:
        return make_url(url).render_as_string()
    except ArgumentError:
        return url


def in_memory(url: URL) -> bool:
    """A SQLite database that lives in one process's memory (`sqlite://`, `:memory:`, a file
    URI with mode=memory) and is gone when it ends."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or ":memory:" in database
        or "mode=memory" in database
        or url.query.get("mode") == "memory"
    )


def located(url: str, root: Path, memory_ok: bool, outside_workspace: Sequence[str]) -> URL:
    """The parsed store URL, its SQLite file placed in the workspace; an in-memory database
    only with `memory_ok`."""
    parsed = make_url(database_url(url, root, outside_workspace))
    if not memory_ok and in_memory(parsed):
        raise StoreError(IN_MEMORY.format(url=parsed.render_as_string()))
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite store (`located` already made it absolute); None otherwise."""
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return None
    return Path(url.database or "")
