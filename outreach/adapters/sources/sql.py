"""A kind of data read from a SQL database: a row source (`rows.RowSource`) over a table or a
query, streamed in batches (a server-side cursor on PostgreSQL), every value turned into the
text cell the file loaders parse, so one set of parsers serves files and databases.

    place = sql_place("contacts", setting, root, outside_workspace, os.environ)
    source = SqlRows(place)            # then read_contacts(source), as a file would be
    problem at: postgresql://crm-replica/crm crm.clients[client_id=c-17]: birthday: ...

The URL's password comes from the environment only, never from outreach.yaml, and never
appears in a message: messages name the database as `backend://host:port/database`, and
whatever a driver says passes through a redactor that knows the password. The database is
opened read-only (a read-only transaction on PostgreSQL, mode=ro on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, TextClause, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from outreach.adapters.sources.cells import quoted
from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.rows import Row, listed
from outreach.core.config import SqlSource
from outreach.core.problems import Location, Problem, problem
from outreach.redaction import Redactor

CONNECT_SECONDS = 10
MAX_KEY_SHOWN = 60


class SourceUnusable(ValueError):
    """A SQL source that cannot even be tried; the message says what to do."""


@dataclass(frozen=True)
class SqlPlace:
    """A SQL source made ready to read: its URL (password included), how messages name it,
    what it reads, and the secrets its messages must not show."""

    kind: str
    url: URL
    shown_as: str  # `postgresql://crm-replica/crm crm.clients`: no user, no password
    setting: SqlSource
    key: str  # the database's column that names a row
    redact: Redactor

    @property
    def what(self) -> str:
        return self.setting.table or "the query"


def sql_place(
    kind: str,
    setting: SqlSource,
    root: Path,
    outside_workspace: Sequence[str],
    environ: Mapping[str, str],
    default_key: str,
) -> SqlPlace:
    """The source `data.<kind>` names, its secrets taken from `environ`; SourceUnusable when
    a variable is unset, the URL does not parse, or a SQLite file is missing or outside."""
    url, secrets = _url(kind, setting, environ)
    if url.get_backend_name() == "sqlite":
        url = _sqlite_read_only(url, root, outside_workspace)
    elif url.drivername == "postgresql":  # the driver outreach installs (the postgres extra)
        url = url.set(drivername="postgresql+psycopg")
    shown = f"{_shown_url(url, setting)} {setting.table or 'query'}"
    key = setting.key or setting.their(default_key)
    return SqlPlace(kind, url, shown, setting, key, Redactor.of(secrets))


def _url(kind: str, setting: SqlSource, environ: Mapping[str, str]) -> tuple[URL, list[str]]:
    written = setting.sql or environ.get(setting.url_env or "", "").strip()
    if not written:
        raise SourceUnusable(
            f"data.{kind}.url_env: the environment variable {setting.url_env} is not set; "
            "set it to the database's URL"
        )
    try:
        url = make_url(written)
    except ArgumentError:
        where = f"data.{kind}.sql" if setting.sql else f"the variable {setting.url_env}"
        raise SourceUnusable(
            f"{where} is not a database URL; write e.g. postgresql+psycopg://user@host/db"
        ) from None
    secrets = [url.password] if isinstance(url.password, str) else []
    if setting.password_env:
        password = environ.get(setting.password_env, "")
        if not password:
            raise SourceUnusable(
                f"data.{kind}.password_env: the environment variable {setting.password_env} "
                "is not set; set it to the database user's password"
            )
        url, secrets = url.set(password=password), [*secrets, password]
    return url, secrets


def _sqlite_read_only(url: URL, root: Path, outside_workspace: Sequence[str]) -> URL:
    """A SQLite file (relative to the workspace), confined like a data file, opened
    read-only: a missing file is said so, never created empty."""
    database = url.database or ""
    if database in ("", ":memory:"):
        raise SourceUnusable("an in-memory SQLite database holds no data; name a file")
    try:
        path = Boundary.of(root, outside_workspace).confine(root / database)
    except Refused as exc:
        raise SourceUnusable(f"{root / database}: {exc}") from None
    if not path.is_file():
        raise SourceUnusable(f"{path}: no such database file; check the URL's path")
    return URL.create("sqlite", database=f"file:{quote(str(path))}?mode=ro", query={"uri": "true"})


def _shown_url(url: URL, setting: SqlSource) -> str:
    """The database as messages name it: backend, host, port and database; no credentials."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:///{make_url(setting.sql).database}" if setting.sql else "sqlite"
    port = f":{url.port}" if url.port else ""
    return f"{backend}://{url.host or ''}{port}/{url.database or ''}"


def text_of(value: Any) -> str:
    """A database value as the text cell a file would hold: blank for NULL, ISO dates,
    true/false, plain decimals, lists joined with `;` (as tags are)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        midnight = value.time() == time(0) and value.tzinfo is None
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return ";".join(text_of(item) for item in value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


class SqlRows:
    """The rows of a table or a query as a row source: numbered from 1 in the order the
    database returns them, each named in messages by its key column's value."""

    def __init__(self, place: SqlPlace, keep_keys: bool = False) -> None:
        self.source = place
        self.shown_as = place.shown_as
        self.header: dict[str, int] = {}  # our column name -> index
        self.names: list[str] = []  # our name of every column, by index
        self.theirs: list[str] = []  # the database's name of every column, by index
        self.problems: list[Problem] = []
        self.incomplete: str | None = None
        self.key_index = -1
        # The key of each row by its number, for what is said about a row after it was read
        # (contacts: the same person twice); other kinds point at rows as they are read.
        self.keep_keys = keep_keys
        self.keys: list[str] = []

    def rows(self) -> Iterator[Row]:
        if self.source.url.get_backend_name() == "postgresql":
            yield from self._copied()
            return
        phase = "connect to"
        try:
            engine = engine_for_reading(self.source.url)
            with engine.connect() as connection:
                phase = "read"
                batch = self.source.setting.batch_rows
                # A server-side cursor, fetched a batch at a time (with `yield_per` instead,
                # SQLAlchemy 2.1 held a million rows at once: measured, 680 MiB against 80).
                result = connection.execution_options(
                    stream_results=True, max_row_buffer=batch, **_read_only(engine)
                ).execute(self._statement(engine))
                if self._take_header(list(result.keys())):
                    yield from self._numbered(iter(lambda: result.fetchmany(batch), []))
        except SourceUnusable as exc:
            self._lost(str(exc))
        except (SQLAlchemyError, ImportError) as exc:
            self._lost(self._failure(phase, exc))
        except UnicodeDecodeError as exc:
            self._lost(f"a value is not text in the database's encoding ({exc.reason})")

    def _copied(self) -> Iterator[Row]:
        """PostgreSQL's rows by COPY, as CSV the server writes: twice as fast as a cursor's
        typed values made text here (benchmarks/sql_read.py), and the same cells."""
        import csv

        from outreach.adapters.sources.sql_copy import copied, csv_lines  # it builds on this

        try:
            import psycopg
        except ImportError as exc:
            self._lost(self._failure("connect to", exc))
            return
        try:
            records = csv.reader(csv_lines(copied(self.source)))
            if self._take_header(next(records, [])):
                key, keep = self.key_index, self.keep_keys
                for number, cells in enumerate(records, 1):
                    if keep:
                        self.keys.append(cells[key])
                    yield cells, number, False
        except SourceUnusable as exc:
            self._lost(str(exc))
        except (SQLAlchemyError, ImportError) as exc:  # connecting
            self._lost(self._failure("connect to", exc))
        except psycopg.Error as exc:
            self._lost(self._failure("read", exc))
        except (UnicodeDecodeError, csv.Error) as exc:
            self._lost(f"the database's rows cannot be read as text ({exc})")

    def _numbered(self, batches: Iterator[Sequence[Any]]) -> Iterator[Row]:
        number, key, keep = 0, self.key_index, self.keep_keys
        for batch in batches:
            for values in batch:
                number += 1
                cells = [v if v.__class__ is str else text_of(v) for v in values]
                if keep:
                    self.keys.append(cells[key])
                yield cells, number, False

    def _statement(self, engine: Engine) -> TextClause:
        setting = self.source.setting
        if setting.query:
            return text(setting.query)
        quote_name = engine.dialect.identifier_preparer.quote
        table = ".".join(quote_name(part) for part in (setting.table or "").split("."))
        return text(f"SELECT * FROM {table}")

    def _take_header(self, theirs: list[str]) -> bool:
        """Name the columns ours; False (and the source unusable) when a column the
        mapping or the key names is not there."""
        setting, kind = self.source.setting, self.source.kind
        ours = {their: our for our, their in setting.columns.items()}
        missing = [f"'{t}' (data.{kind}.columns.{o})" for o, t in setting.columns.items()
                   if t not in theirs]  # fmt: skip
        if self.source.key not in theirs:
            missing.append(f"'{self.source.key}' (the key)")
        if missing:
            self._lost(f"no column {', '.join(missing)} in {self.source.what}; it has: "
                       f"{', '.join(theirs)}")  # fmt: skip
            return False
        self.theirs, self.names = theirs, [ours.get(name, name) for name in theirs]
        self.key_index = theirs.index(self.source.key)
        mapped_first = sorted(range(len(theirs)), key=lambda i: theirs[i] not in ours)
        for index in mapped_first:
            name = self.names[index]
            if name in self.header:
                self.problems.append(self._twice(name, theirs[index]))
            elif name:
                self.header[name] = index
        return True

    def _twice(self, name: str, their: str) -> Problem:
        kind = self.source.kind
        return problem(self.shown_as, None, None,
                       f"column '{their}' and the one data.{kind}.columns maps to {name} are "
                       f"both {name}; map one of them under another name")  # fmt: skip

    def _failure(self, phase: str, exc: Exception) -> str:
        said = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = said[0] if said else type(exc).__name__
        if isinstance(exc, NoSuchModuleError | ImportError):
            advice = "install the driver: pip install 'outreach[postgres]' for PostgreSQL"
        elif phase == "connect to":
            advice = (
                "check that the database is reachable, that the URL names it and that the "
                "user's password is in the environment variable outreach.yaml names"
            )
        else:
            advice = f"check table:/query: and columns: under data.{self.source.kind}"
        return self.source.redact(f"cannot {phase} the database: {first}; {advice}")

    def _lost(self, message: str) -> None:
        found = problem(self.shown_as, None, None, message)
        self.problems.append(found)
        self.incomplete = self.incomplete or str(found)

    def require(self, *columns: str) -> bool:
        missing = [c for c in columns if c not in self.header]
        if missing:
            kind, has = self.source.kind, ", ".join(self.theirs)
            hint = ", ".join(f"{c}: their_column" for c in missing)
            message = (
                f"missing column {', '.join(missing)}; map it under data.{kind}.columns in "
                f"outreach.yaml ({hint}); {self.source.what} has: {has}"
            )
            self.problems.append(problem(self.shown_as, None, None, message))
        return not missing

    def at(self, row: Row, column: str | int, message: str) -> Problem:
        index = column if isinstance(column, int) else self.header.get(column)
        if index is not None and index < len(self.names):
            ours, theirs = self.names[index], self.theirs[index]
            named = ours if ours == theirs else f"{ours} ({theirs})"
            message = f"{named}: {message.removeprefix(f'{ours}: ')}"
        return Problem(self._row(row[0][self.key_index]), message)

    def place(self, number: int) -> Location:
        if self.keep_keys and 0 < number <= len(self.keys):
            return self._row(self.keys[number - 1])
        return Location(f"{self.shown_as} row {number}")

    def describe(self, numbers: Sequence[int]) -> str:
        named = [self._key_text(self.keys[n - 1]) if self.keep_keys and 0 < n <= len(self.keys)
                 else f"number {n}" for n in numbers]  # fmt: skip
        return f"{'row' if len(numbers) == 1 else 'rows'} {listed(named)}"

    def _row(self, key: str) -> Location:
        return Location(f"{self.shown_as}[{self._key_text(key)}]")

    def _key_text(self, key: str) -> str:
        shown = key if len(key) <= MAX_KEY_SHOWN else quoted(key, MAX_KEY_SHOWN)
        return f"{self.source.key}={shown}"


def engine_for_reading(url: URL) -> Engine:
    """An engine that opens one connection, for one read (no pool left behind)."""
    options: dict[str, Any] = {"poolclass": NullPool}
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_SECONDS}
    try:
        return create_engine(url, **options)
    except (NoSuchModuleError, ImportError) as exc:
        raise SourceUnusable(
            f"no driver for {url.drivername} ({exc}); for PostgreSQL: pip install "
            "'outreach[postgres]' and write postgresql+psycopg://"
        ) from None


def _read_only(engine: Engine) -> dict[str, Any]:
    """PostgreSQL reads in a read-only transaction: a query can never write."""
    return {"postgresql_readonly": True} if engine.dialect.name == "postgresql" else {}
