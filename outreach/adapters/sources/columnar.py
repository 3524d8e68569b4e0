"""contacts.csv and purchases.csv read by DuckDB, turned into `Contact` and `Purchase` values
only for the contacts planning asks about: at a million clients a Python object per row is
the wall (BENCHMARKS.md §1–5), and most rows are never due.

**What is read for every row, and why that is enough to send safely.** Typing a cell (a
birthday, a time zone, an address) matters only to the contact it belongs to, so it is done
when that contact is built, by the very row reader `load_contacts` uses
(`contacts._Reader.read`, same messages, same `file:line:col`). What one row can do to
*another* contact is decided here for every row, with SQL finding the few rows that need a
closer look and today's Python code reading exactly those:

- every opt-out and consent column of every row: a row whose cells are not plainly "no" (or
  plainly "yes" for consent) is read in Python at load, so its addresses go into
  `do_not_write` and an unreadable opt-out withholds it, exactly as today;
- rows that do not line up with the header, cells with space around them, ids that are
  empty, too long or not plain ASCII, addresses that are not plain: read in Python at load;
- one id on two rows, or two rows that may be one person (an id equal but for case, one
  mailbox): SQL groups the keys, and every row of a group is read in Python, in file order,
  and withheld by `_withhold_one_person_twice`;
- references to unknown companies and referrers, and owners missing under `owners:`: SQL
  finds the rows, Python words the warnings.

So a bad cell in a row that is not due cannot make anyone else written to; what is not
reported in `preview` or the daemon is that cell's own problem, which `validate` (it reads
every row, `data.engine: memory`) still reports. The rows read at load are *held*; all others
are *plain*: no cross-row fact involves them.

**Which files.** Only files whose CSV has no quotes: then each line is one row, DuckDB
splits it as Python's `csv` does, and a row's line number is its line in the file. A file
with quotes, a byte-order mark, a lone carriage return, mixed line ends or bytes that are not
UTF-8 is left to the loader that reads everything (`plain_csv` says why); so is a purchases
file with columns beyond the six, or a contacts file not read whole.

**Lookups** (outreach.core.model.DueIndex) are SQL over the plain rows plus a loop over the
held ones, and may name too many contacts (a cell SQL cannot type is always named), never too
few. Purchases are kept in an on-disk DuckDB table beside per-contact aggregates (count,
total, last date).
"""

from __future__ import annotations

import codecs
import contextlib
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from outreach.adapters.sources.cells import BadCell, parse_email
from outreach.adapters.sources.contacts import (
    ContactsFile,
    _Reader,
    _withhold_one_person_twice,
    reference_problems,
)
from outreach.adapters.sources.csvfile import CsvFile, Row
from outreach.adapters.sources.data import PURCHASE_COLUMNS, _CellError, _PurchaseParser
from outreach.core.addresses import suppression_key
from outreach.core.keys import MAX_ID
from outreach.core.model import Company, Contact, Purchase
from outreach.core.problems import Problem, problem, warning
from outreach.core.timing import EARLIEST_DATE, LATEST_DATE
from outreach.core.triggers import date_field

# What Python's str.strip() strips, in RE2: a cell with any of it at an edge is held.
_SPACE = (
    r"[\t\n\x0b\x0c\r \x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]"
)
_EDGE_SPACE = f"(^|,){_SPACE}|{_SPACE}(,|$)"
_NO = ("", "false", "no", "0", "n")  # an opt-out cell that plainly says no (lower case)
_YES = ("", "true", "yes", "1", "y")  # a consent cell that plainly says yes
_PLAIN_EMAIL = r"[a-z0-9._%-]+@[a-z0-9-]+(\.[a-z0-9-]+)+"
_DAY = r"\d{4}-\d{2}-\d{2}"
_SEPARATOR = "\x1e"  # never in a plain file: DuckDB hands each line over whole
CHUNK = 16 * 1024 * 1024
BATCH = 20_000  # ids per query when building contacts


def plain_csv(path: Path) -> str | None:
    """Why DuckDB cannot read this file as Python's csv would, or None when it can."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    first, cr, crlf, lf, last = True, 0, 0, 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if first and chunk.startswith(codecs.BOM_UTF8):
                return "it starts with a byte-order mark"
            first = False
            for byte, why in ((b'"', "it has quotes"), (b"\x00", "it has NUL bytes"),
                              (_SEPARATOR.encode(), "it has control characters")):  # fmt: skip
                if byte in chunk:
                    return why
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "it is not UTF-8"
            joined = last + chunk
            cr, crlf, lf = (
                cr + chunk.count(b"\r"),
                crlf + joined.count(b"\r\n"),
                lf + chunk.count(b"\n"),
            )
            crlf -= last.count(b"\r\n")
            last = chunk[-1:]
    if cr and (cr != crlf or crlf != lf):
        return "its line ends are mixed"
    return None


class Workdir:
    """A DuckDB database in a temporary folder (tables on disk, not in memory), removed when
    closed or collected."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="outreach-columnar-"))
        self.db = duckdb.connect(str(self.folder / "data.duckdb"))
        self.db.execute(f"SET temp_directory = '{self.folder / 'spill'}'")
        self.db.execute("SET memory_limit = '1GB'")
        self.db.execute("SET preserve_insertion_order = true")

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __del__(self) -> None:
        self.close()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, list(params)).fetchall()


def _read_lines(work: Workdir, table: str, path: Path) -> None:
    """`table(line, raw)`: every line of the file with its number (blank ones as NULL)."""
    work.db.execute(
        f"CREATE TABLE {table} AS SELECT row_number() OVER () AS line, raw FROM read_csv(?, "
        f"columns = {{'raw': 'VARCHAR'}}, header = false, delim = '{_SEPARATOR}', "
        "quote = '', escape = '', auto_detect = false)",
        [str(path)],
    )


def _cell(index: int | None) -> str:
    """SQL for one cell of `cells` (0-based `index`), '' when the row is shorter."""
    return "''" if index is None else f"coalesce(cells[{index + 1}], '')"


class ColumnarContacts(Mapping[str, Contact]):
    """The contacts of a plain contacts.csv, built on demand; see the module doc."""

    def __init__(
        self,
        work: Workdir,
        source: CsvFile,
        found: ContactsFile,
        date_columns: tuple[str, ...],
    ) -> None:
        self.work, self.source, self.found = work, source, found
        self.held: dict[str, Contact] = {}  # read at load: they take part in cross-row facts
        self.built: dict[str, Contact] = {}  # plain rows built so far
        self.reader = _Reader(source, ContactsFile(), date_columns)
        self._len: int | None = None

    # -- Mapping ---------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Contact:
        found = self.held.get(key) or self.built.get(key)
        if found is not None:
            return found
        if not isinstance(key, str):
            raise KeyError(key)
        self._build([key])
        found = self.built.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        if key in self.held or key in self.built:
            return True
        if not isinstance(key, str):
            return False
        return bool(self.work.rows("SELECT 1 FROM plain WHERE id = ? LIMIT 1", [key]))

    def __len__(self) -> int:
        if self._len is None:
            self._len = self.work.rows("SELECT count(*) FROM plain")[0][0] + len(self.held)
        return self._len

    def __iter__(self) -> Iterator[str]:
        return iter(self._order())

    def values(self) -> Any:
        return (c for batch in self._batches() for c in batch)

    def items(self) -> Any:
        return ((c.id, c) for batch in self._batches() for c in batch)

    def _order(self) -> list[str]:
        plain = self.work.rows("SELECT line, id FROM plain")
        return [i for _, i in sorted([*plain, *((c.line, c.id) for c in self.held.values())])]

    def _batches(self) -> Iterator[list[Contact]]:
        ids = self._order()
        for start in range(0, len(ids), BATCH):
            yield self.select(ids[start : start + BATCH])

    def select(self, ids: Collection[str]) -> list[Contact]:
        """These contacts (those that exist), in file order."""
        self._build([i for i in ids if i not in self.built and i not in self.held])
        found = {c.id: c for i in ids if (c := self.held.get(i) or self.built.get(i))}
        return sorted(found.values(), key=_line)

    def _build(self, ids: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            rows = self.work.rows(
                "SELECT line, cells FROM plain WHERE id IN (SELECT unnest(?)) ORDER BY line",
                [batch],
            )
            for line, cells in rows:
                self.reader.read((cells, line, True))
            self.built.update(self.reader.found.contacts)
            self.reader.found.contacts.clear()
            self.reader.found.problems.clear()


def _line(contact: Contact) -> int:
    return contact.line


class ColumnarPurchases(Mapping[str, tuple[Purchase, ...]]):
    """Each contact's purchases, oldest first (same-day ones in file order), built for the
    contacts asked about: the plain rows from DuckDB, the held rows read at load."""

    def __init__(self, work: Workdir, parse: Any, held: dict[str, Any]):
        self.work, self.parse = work, parse
        self.held: dict[str, list[tuple[int, Purchase]]] = held  # contact -> (line, purchase)
        self.built: dict[str, tuple[Purchase, ...]] = {}

    def __getitem__(self, key: str) -> tuple[Purchase, ...]:
        if key not in self.built:
            self.fetch([key])
        found = self.built[key]
        if not found:
            raise KeyError(key)
        return found

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return len(self._buyers())

    def __iter__(self) -> Iterator[str]:
        return iter(self._buyers())

    def _buyers(self) -> list[str]:
        plain = [r[0] for r in self.work.rows("SELECT contact_id FROM bought ORDER BY first")]
        return list(dict.fromkeys([*plain, *self.held]))

    def fetch(self, ids: Collection[str]) -> None:
        """Build the purchases of these contacts (one query per batch)."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self.built]
        found: dict[str, list[tuple[int, Purchase]]] = {
            i: list(self.held.get(i, ())) for i in wanted
        }
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            rows = self.work.rows(
                "SELECT contact_id, line, raw FROM purchases "
                "WHERE contact_id IN (SELECT unnest(?)) ORDER BY line",
                [batch],
            )
            for contact, line, raw in rows:
                found[contact].append((line, self.parse(raw.split(","))))
        for contact, items in found.items():
            items.sort(key=_first)  # file order, then (stably) by date
            self.built[contact] = tuple(sorted((p for _, p in items), key=_date))


def _first(item: tuple[int, Purchase]) -> int:
    return item[0]


def _date(purchase: Purchase) -> date:
    return purchase.date


class ColumnarIndex:
    """The lookups of outreach.core.due in SQL (`DueIndex`; see the module doc)."""

    def __init__(self, work: Workdir, contacts: ColumnarContacts) -> None:
        self.work, self.contacts = work, contacts
        self.purchases = ColumnarPurchases(work, None, {})
        self.referrals = Referrals(work, contacts)
        self.header = contacts.source.header

    def select(self, ids: Collection[str]) -> list[Contact]:
        """These contacts in file order, their purchases and referrals built alongside."""
        people = self.contacts.select(ids)
        chosen = [c.id for c in people]
        referred = self.referrals.prefetch(chosen)
        self.purchases.fetch([*chosen, *referred])
        return people

    def month_days(
        self, column: str, days: Collection[tuple[int, int]], birthday: bool
    ) -> set[str]:
        """Whose birthday (or date in `column`) falls on one of these months and days, or
        whose cell SQL cannot read (then the trigger decides)."""
        held = {
            c.id for c in self.contacts.held.values() if _month_day(c, column, birthday) in days
        }
        index = self.header.get(column)
        if index is None:
            return held
        cell = _cell(index)
        pattern = r"^(?:--|\d{4}-)?(\d{2})-(\d{2})$"
        rows = self.work.rows(
            f"SELECT id FROM plain WHERE {cell} <> '' AND (NOT regexp_matches({cell}, ?) OR "
            f"(CAST(regexp_extract({cell}, ?, 1) AS INT) * 100 + "
            f"CAST(regexp_extract({cell}, ?, 2) AS INT)) IN (SELECT unnest(?)))",
            [pattern, pattern, pattern, [m * 100 + d for m, d in days]],
        )
        return held | {r[0] for r in rows}

    def dated(self, column: str, first: date, last: date, shift: timedelta) -> set[str] | None:
        """Whose date in `column`, `shift` later, falls on first..last, cannot be shifted,
        or cannot be read by SQL; None: anyone."""
        bounds = _bounds(first, last, shift)
        if bounds is None:
            return None
        low, high, edge, beyond = bounds
        held = {
            c.id
            for c in self.contacts.held.values()
            if isinstance(day := date_field(c, column), date)
            and (low <= day <= high or (day > edge if beyond == ">" else day < edge))
        }
        index = self.header.get(column)
        if index is None:
            return held
        cell, typed = _cell(index), f"try_cast({_cell(index)} AS DATE)"
        rows = self.work.rows(
            f"SELECT id FROM plain WHERE {cell} <> '' AND (NOT regexp_full_match({cell}, ?) "
            f"OR {typed} IS NULL OR {typed} BETWEEN ? AND ? OR {typed} {beyond} ?)",
            [_DAY, low, high, edge],
        )
        return held | {r[0] for r in rows}

    def bought_since(self, first: date) -> set[str]:
        """Who bought on or after `first` (and whoever has purchases SQL did not vouch for)."""
        rows = self.work.rows("SELECT contact_id FROM bought WHERE last >= ?", [first])
        return {r[0] for r in rows} | set(self.purchases.held)

    def last_bought(self, first: date, last: date, shift: timedelta) -> set[str] | None:
        """Whose last purchase, `shift` later, falls on first..last or cannot be shifted."""
        bounds = _bounds(first, last, shift)
        if bounds is None:
            return None
        low, high, edge, beyond = bounds
        rows = self.work.rows(
            f"SELECT contact_id FROM bought WHERE last BETWEEN ? AND ? OR last {beyond} ?",
            [low, high, edge],
        )
        return {r[0] for r in rows} | set(self.purchases.held)

    def referrers_of_buyers(self, first: date) -> set[str]:
        """Who referred someone that bought on or after `first`: only then can `advocate`
        be entered on or after it."""
        buyers = self.bought_since(first)
        rows = self.work.rows(
            "SELECT DISTINCT referred_by FROM plain WHERE referred_by <> '' AND (id IN "
            "(SELECT contact_id FROM bought WHERE last >= ?) OR id IN (SELECT unnest(?)))",
            [first, list(self.purchases.held)],
        )
        held = {c.referred_by for c in self.contacts.held.values() if c.id in buyers}
        return {r[0] for r in rows} | {r for r in held if r}

    def at_companies(self, companies: Collection[str]) -> set[str]:
        held = {c.id for c in self.contacts.held.values() if c.company_id in companies}
        rows = self.work.rows(
            "SELECT id FROM plain WHERE company_id IN (SELECT unnest(?))", [list(companies)]
        )
        return held | {r[0] for r in rows}


def _bounds(first: date, last: date, shift: timedelta) -> tuple[date, date, date, str] | None:
    """The dates whose `shift` later falls on first..last, and the edge past which a date
    cannot be shifted (`>` or `<` it); None when the range itself cannot be shifted."""
    try:
        if shift > timedelta(0):
            return first - shift, last - shift, date.max - shift, ">"
        return first - shift, last - shift, date.min - shift, "<"
    except OverflowError:
        return None


def _month_day(contact: Contact, column: str, birthday: bool) -> tuple[int, int] | None:
    if birthday:
        b = contact.birthday
        return None if b is None else (b.month, b.day)
    day = date_field(contact, column)
    return (day.month, day.day) if isinstance(day, date) else None


class Referrals(Mapping[str, tuple[Contact, ...]]):
    """Who each contact referred, in file order, built when asked."""

    def __init__(self, work: Workdir, contacts: ColumnarContacts) -> None:
        self.work, self.contacts = work, contacts
        self.cache: dict[str, tuple[Contact, ...]] = {}
        self._keys: list[str] | None = None

    def __getitem__(self, key: str) -> tuple[Contact, ...]:
        if key not in self.cache:
            self.prefetch([key])
        if not self.cache[key]:
            raise KeyError(key)
        return self.cache[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._referrers()

    def __len__(self) -> int:
        return len(self._referrers())

    def __iter__(self) -> Iterator[str]:
        return iter(self._referrers())

    def _referrers(self) -> list[str]:
        if self._keys is None:
            rows = self.work.rows(
                "SELECT min(line), referred_by FROM plain WHERE referred_by <> '' "
                "GROUP BY referred_by"
            )
            held = [(c.line, c.referred_by) for c in self.contacts.held.values() if c.referred_by]
            self._keys = list(dict.fromkeys(r for _, r in sorted([*rows, *held])))
        return self._keys

    def prefetch(self, referrers: Collection[str]) -> list[str]:
        """Build the referrals of these referrers with one query; the ids of the referred."""
        wanted = [r for r in dict.fromkeys(referrers) if r not in self.cache]
        rows = self.work.rows(
            "SELECT id FROM plain WHERE referred_by IN (SELECT unnest(?))", [wanted]
        )
        by: dict[str, list[Contact]] = {r: [] for r in wanted}
        held = [c for c in self.contacts.held.values() if c.referred_by in by]
        for contact in [*self.contacts.select([r[0] for r in rows]), *held]:
            by[str(contact.referred_by)].append(contact)
        for referrer, referred in by.items():
            self.cache[referrer] = tuple(sorted(referred, key=_line))
        return [c.id for r in referrers for c in self.cache.get(r, ())]


class ColumnarData:
    """What `read_contacts` and `read_purchases` read: the mappings a Dataset holds, the
    lookups, and the problems found on the way."""

    def __init__(self, work: Workdir, contacts: ColumnarContacts) -> None:
        self.work, self.contacts = work, contacts
        self.problems: list[Problem] = []
        self.do_not_write: dict[str, str] = {}
        self.index = ColumnarIndex(work, contacts)

    @property
    def purchases(self) -> ColumnarPurchases:
        return self.index.purchases

    @property
    def referrals(self) -> Referrals:
        return self.index.referrals


def read_contacts(
    path: Path, shown_as: str, date_columns: Collection[str], max_bytes: int
) -> ColumnarData | None:
    """contacts.csv in DuckDB, its held rows read; None when it cannot be read this way (an
    empty file, no id column, a line too long: the whole-file loader says so)."""
    source = CsvFile(path, shown_as, max_bytes)
    found = ContactsFile()
    rows = source.rows()
    next(rows, None)  # reads the header
    rows.close()  # type: ignore[attr-defined]
    if not source.header or "id" not in source.header or source.problems:
        return None
    work = Workdir()
    _read_lines(work, "lines", path)
    longest = work.rows("SELECT coalesce(max(strlen(raw)), 0) FROM lines")[0][0]
    if longest > 10_000_000:
        work.close()
        return None
    contacts = ColumnarContacts(work, source, found, tuple(date_columns))
    data = ColumnarData(work, contacts)
    header = contacts.reader.header  # the reader reads the header's notes once
    data.problems += contacts.reader.found.problems
    contacts.reader.found.problems.clear()
    _table(work, source, header)
    _read_held(data, source, tuple(date_columns))
    return data


def _table(work: Workdir, source: CsvFile, header: Any) -> None:
    """`rows`: every non-blank row after the header, its cells and the columns SQL reads,
    and whether it must be held."""
    names = source.header
    email = header.emails[0] if len(header.emails) == 1 else None
    checks = [
        "len(cells) <> ?",
        "regexp_matches(raw, ?)",
        f"{_cell(names['id'])} = ''",
        f"strlen({_cell(names['id'])}) > {MAX_ID}",
        f"NOT regexp_full_match({_cell(names['id'])}, '[\\x20-\\x7e]*')",
    ]
    checks += [f"lower({_cell(i)}) NOT IN {_NO}" for i in header.opt_outs]
    checks += [f"lower({_cell(i)}) NOT IN {_YES}" for i in header.consents]
    if len(header.emails) > 1:
        checks.append("true")
    if email is not None:
        checks.append(f"({_cell(email)} <> '' AND NOT regexp_full_match(lower({_cell(email)}), "
                      f"'{_PLAIN_EMAIL}'))")  # fmt: skip
    work.db.execute(
        "CREATE TABLE rows AS SELECT line, cells, "
        f"{_cell(names['id'])} AS id, {_cell(email)} AS email, "
        f"{_cell(names.get('company_id'))} AS company_id, "
        f"{_cell(names.get('referred_by'))} AS referred_by, "
        f"{_cell(names.get('owner'))} AS owner, "
        f"({' OR '.join(checks)}) AS held "
        "FROM (SELECT line, raw, string_split(raw, ',') AS cells FROM lines "
        "WHERE line > 1 AND raw IS NOT NULL AND regexp_matches(raw, '[^,]'))",
        [header.width, _EDGE_SPACE],
    )
    work.db.execute("DROP TABLE lines")


def _read_held(data: ColumnarData, source: CsvFile, date_columns: tuple[str, ...]) -> None:
    """Read in Python every row that takes part in a cross-row fact (see the module doc),
    in file order, as `load_contacts` does; the rest becomes the view `plain`."""
    work = data.work
    # The keys a held row's contact is grouped by, as Python computes them.
    work.db.execute("CREATE TABLE held_keys (line BIGINT, key VARCHAR)")
    held_rows = work.rows("SELECT line, cells FROM rows WHERE held ORDER BY line")
    keys = [(line, key) for line, cells in held_rows for key in _person_keys(source, cells)]
    if keys:
        work.db.executemany("INSERT INTO held_keys VALUES (?, ?)", keys)
    work.db.execute(
        "CREATE TABLE keyed AS SELECT line, 'id ' || lower(id) AS key FROM rows WHERE NOT held "
        "UNION ALL SELECT line, 'email ' || lower(email) FROM rows WHERE NOT held AND email <> '' "
        "UNION ALL SELECT line, key FROM held_keys"
    )
    work.db.execute(
        "UPDATE rows SET held = true WHERE line IN (SELECT line FROM keyed WHERE key IN "
        "(SELECT key FROM keyed GROUP BY key HAVING count(DISTINCT line) > 1))"
    )
    work.db.execute("DROP TABLE keyed")
    work.db.execute("CREATE VIEW plain AS SELECT * FROM rows WHERE NOT held")
    reader = _Reader(source, ContactsFile(), date_columns)
    reader.found.problems.clear()  # the header's notes: reported once, from the first reader
    for line, cells in work.rows("SELECT line, cells FROM rows WHERE held ORDER BY line"):
        reader.read((cells, line, True))
    _withhold_one_person_twice(reader.found, source.shown_as)
    data.contacts.held = reader.found.contacts
    data.do_not_write = reader.found.do_not_write
    data.problems += reader.found.problems


def _person_keys(source: CsvFile, cells: list[str]) -> list[str]:
    """The keys `_withhold_one_person_twice` groups a row by (its id, its one address),
    approximately: a row with two keys is read in Python anyway, which decides."""
    index = source.header["id"]
    ident = cells[index].strip() if index < len(cells) else ""
    keys = [] if not ident else ["id " + _nfkc_casefold(ident)]
    email = source.header.get("email")
    text = cells[email].strip() if email is not None and email < len(cells) else ""
    if text:
        with contextlib.suppress(BadCell):
            keys.append("email " + suppression_key(parse_email(text)))
    return keys


def _nfkc_casefold(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text).casefold()


def read_purchases(
    data: ColumnarData, path: Path, shown_as: str, max_bytes: int
) -> list[Problem] | None:
    """purchases.csv in DuckDB: plain rows in a table, the others read in Python now; None
    when the file cannot be read this way (columns beyond the six, a missing one)."""
    source = CsvFile(path, shown_as, max_bytes)
    rows = source.rows()
    next(rows, None)
    rows.close()  # type: ignore[attr-defined]
    if (
        source.problems
        or set(source.header) != set(PURCHASE_COLUMNS)
        or (len(source.names) != len(PURCHASE_COLUMNS))
    ):
        return None
    work = data.work
    _read_lines(work, "plines", path)
    longest = work.rows("SELECT coalesce(max(strlen(raw)), 0) FROM plines")[0][0]
    if longest > 10_000_000:
        return None
    at = {name: source.header[name] for name in PURCHASE_COLUMNS}
    cell = {name: _cell(i) for name, i in at.items()}
    work.db.execute(
        "CREATE TABLE valid_ids AS SELECT id FROM plain UNION ALL SELECT unnest(?::VARCHAR[])",
        [list(data.contacts.held)],
    )
    strip = f"regexp_replace({cell['id']}, '^{_SPACE}+|{_SPACE}+$', '', 'g')"
    work.db.execute(
        "CREATE TABLE prows AS SELECT line, raw, "
        f"{cell['contact_id']} AS contact_id, try_cast({cell['date']} AS DATE) AS day, "
        f"try_cast({cell['amount']} AS DECIMAL(38, 12)) AS amount, {strip} AS pid, "
        f"(len(cells) = 6 AND NOT regexp_matches(raw, ?) AND {cell['id']} <> '' "
        f"AND strlen({cell['id']}) <= {MAX_ID} AND regexp_full_match({cell['date']}, ?) "
        f"AND try_cast({cell['date']} AS DATE) BETWEEN ? AND ? "
        f"AND regexp_full_match({cell['amount']}, '\\d{{1,15}}(\\.\\d{{1,12}})?') "
        f"AND regexp_full_match({cell['currency']}, '[A-Za-z]{{3}}')) AS plain "
        "FROM (SELECT line, raw, string_split(raw, ',') AS cells FROM plines "
        "WHERE line > 1 AND raw IS NOT NULL AND regexp_matches(raw, '[^,]'))",
        [_EDGE_SPACE, _DAY, EARLIEST_DATE, LATEST_DATE],
    )
    work.db.execute("DROP TABLE plines")
    work.db.execute(
        "UPDATE prows SET plain = false WHERE plain AND (pid IN (SELECT pid FROM prows "
        "GROUP BY pid HAVING count(*) > 1) OR contact_id NOT IN (SELECT id FROM valid_ids))"
    )
    work.db.execute(
        "CREATE TABLE purchases AS SELECT contact_id, line, raw, day FROM prows WHERE plain "
        "ORDER BY contact_id, line"
    )
    work.db.execute(
        "CREATE TABLE bought AS SELECT contact_id, count(*) AS n, sum(amount) AS total, "
        "max(day) AS last, min(line) AS first FROM prows WHERE plain GROUP BY contact_id"
    )
    odd = work.rows("SELECT line, raw FROM prows WHERE NOT plain ORDER BY line")
    work.db.execute("DROP TABLE prows")
    problems, held = _held_purchases(data, source, odd)
    parse = _PurchaseParser(source, {})
    data.index.purchases = ColumnarPurchases(work, _Plain(parse), held)
    return problems


class _Plain:
    """A plain row is valid by construction: the parser's careful path, with its contact."""

    def __init__(self, parse: _PurchaseParser) -> None:
        self.parse = parse

    def __call__(self, cells: list[str]) -> Purchase:
        pid, cid, day, amount, currency, product = self.parse.columns(cells)
        return Purchase(
            pid,
            cid,
            self.parse._date(day),
            Decimal(amount),
            self.parse._currency(currency),
            self.parse.products.setdefault(product, product),
        )


def _held_purchases(
    data: ColumnarData, source: CsvFile, odd: list[tuple[int, str]]
) -> tuple[list[Problem], dict[str, list[tuple[int, Purchase]]]]:
    """The rows SQL could not vouch for, read as `load_purchases` reads every row."""
    named = {r.split(",")[source.header["contact_id"]].strip() for _, r in odd
             if len(r.split(",")) > source.header["contact_id"]}  # fmt: skip
    known = {c.id: c for c in data.contacts.select([n for n in named if n in data.contacts])}
    parse = _PurchaseParser(source, known)
    problems: list[Problem] = []
    held: dict[str, list[tuple[int, Purchase]]] = {}
    seen: set[str] = set()
    for line, raw in odd:
        row: Row = (raw.split(","), line, True)
        try:
            purchase = parse(row[0])
        except _CellError as exc:
            problems.append(
                source.at(row, exc.column, f"{exc.column}: {exc.message}; this row is skipped")
            )
            continue
        if purchase.id in seen:
            message = f"duplicate purchase id '{purchase.id}'; this row is skipped"
            problems.append(source.at(row, "id", message))
            continue
        seen.add(purchase.id)
        held.setdefault(purchase.contact_id, []).append((line, purchase))
    return problems, held


def reference_warnings(
    data: ColumnarData, companies: Mapping[str, Company], shown_as: str
) -> list[Problem]:
    """`check_references` for every contact: SQL finds the rows that may refer to a company
    or a referrer that does not exist, Python words the warnings."""
    work, held = data.work, data.contacts.held
    unknown = "company_id <> '' AND company_id NOT IN (SELECT unnest(?))" if companies else "false"
    rows = work.rows(
        f"SELECT id FROM plain WHERE ({unknown}) OR (referred_by <> '' AND referred_by NOT IN "
        "(SELECT id FROM plain) AND referred_by NOT IN (SELECT unnest(?)))",
        [*([list(companies)] if companies else []), list(held)],
    )
    suspects = data.contacts.select([r[0] for r in rows]) + list(held.values())
    named = [c.referred_by for c in suspects if c.referred_by]
    found = work.rows("SELECT id FROM plain WHERE id IN (SELECT unnest(?))", [named])
    ids = {r[0] for r in found} | set(held)
    return [
        warning
        for contact in sorted(suspects, key=_line)
        for warning in reference_problems(contact, ids, companies, shown_as)
    ]


def owner_warnings(data: ColumnarData, owners: Collection[str], shown_as: str) -> list[Problem]:
    """`_check_owners` for every contact: each owner not under `owners:`, at its first row."""
    if not owners:
        return []
    known = {email.lower() for email in owners}
    rows = data.work.rows(
        "SELECT owner, min(line) FROM plain WHERE owner <> '' GROUP BY owner ORDER BY 2"
    )
    firsts: list[tuple[int, str]] = []
    for text, line in rows:
        try:
            firsts.append((line, parse_email(text)))
        except BadCell:
            continue
    firsts += [(c.line, c.owner) for c in data.contacts.held.values() if c.owner]
    reported: set[str] = set()
    found = []
    for line, owner in sorted(firsts):
        if owner.lower() not in known and owner not in reported:
            reported.add(owner)
            message = (
                f"owner '{owner}' has no entry under owners: in outreach.yaml; "
                "their name is guessed"
            )
            found.append(warning(shown_as, line, None, message))
    return found


__all__ = ["ColumnarData", "plain_csv", "problem", "read_contacts", "read_purchases"]
