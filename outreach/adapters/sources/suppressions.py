"""The suppression list: addresses, and whole domains, never to be written to.

It fails closed. Its `email` column is found however the header spells it, and a file
without a header is read whole (every cell holding an @). A cell may hold several entries
(`ann@x.test; bob@x.test`), a `mailto:` link, a malformed address (kept as written: it still
meets the mailbox it names), or a domain (`example.net`, `@example.net`: everyone there). An
entry that is none of these is an error: outreach cannot tell whom it means, so nothing is
sent until it is fixed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from outreach.adapters.sources.cells import BadCell, parse_email, quoted
from outreach.adapters.sources.csvfile import MAX_FILE_BYTES, CsvFile, header_key
from outreach.adapters.sources.rows import Row, RowSource
from outreach.core.addresses import entries_in
from outreach.core.problems import Problem, Severity

_EMAIL_HEADERS = frozenset({"email", "e_mail", "email_address", "e_mail_address", "mail"})
_DOMAIN = re.compile(r"^(?=.{1,253}$)([^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$")
HEADERLESS = -1  # the file's first line is an entry, not a header


def load_suppressions(
    path: Path, shown_as: str, max_bytes: int = MAX_FILE_BYTES
) -> tuple[set[str], list[Problem]]:
    """The entries, each an address as written or `@domain`; and the file's problems."""
    return read_suppressions(CsvFile(path, shown_as, max_bytes))


def read_suppressions(source: RowSource) -> tuple[set[str], list[Problem]]:
    """The suppression list of any row source (a file, a table): one parser for both."""
    listed: set[str] = set()
    problems: list[Problem] = []
    column: int | None = None
    for row in source.rows():
        if column is None:
            column = _address_column(source)
            if column is None:
                break
            if column == HEADERLESS:
                problems += _read(source, (source.names, 1, True), column, listed)
        problems += _read(source, row, column, listed)
    if column is None and not source.problems and _address_column(source) == HEADERLESS:
        problems += _read(source, (source.names, 1, True), HEADERLESS, listed)  # one line
    return listed, source.problems + problems


def _address_column(source: RowSource) -> int | None:
    """The index of the address column; HEADERLESS when the header holds an address itself;
    None, with a problem, when neither can be told."""
    for index, name in enumerate(source.names):
        if header_key(name) in _EMAIL_HEADERS:
            return index
    if any("@" in name for name in source.names):
        return HEADERLESS
    source.require("email")
    return None


def _read(source: RowSource, row: Row, column: int, listed: set[str]) -> list[Problem]:
    cells = row[0]
    # Without a header, every cell; with one, the address column, and cells past the header's
    # last column (an unquoted comma split an entry: "Ann <a@x.test>, Bo <b@x.test>").
    wide = range(len(source.names), len(cells))
    indexes = range(len(cells)) if column == HEADERLESS else [column, *wide]
    problems: list[Problem] = []
    for index in indexes:
        text = cells[index].strip() if index < len(cells) else ""
        if index != column and "@" not in text:
            continue  # a note beside the address
        unknown = [entry for entry in entries_in(text) if not _listed(entry, listed)]
        for entry in unknown:
            if "@" in entry:  # kept as written: it still meets the mailbox it names
                problems.append(_malformed(source, row, index, entry))
        if any("@" not in entry for entry in unknown):
            message = (
                f"{quoted(text)} is neither an address nor a domain: outreach cannot tell whom it "
                "means, so nothing is sent until it is fixed"
            )
            problems.append(source.at(row, index, message))
    return problems


def _listed(entry: str, listed: set[str]) -> bool:
    """Add an address (as written) or a domain (`@domain`); False for anything else, or an
    address that is kept but is not well-formed."""
    local, at, domain = entry.rpartition("@")
    if (not at and _DOMAIN.match(entry)) or (at and not local and _DOMAIN.match(domain)):
        listed.add(f"@{domain or entry}")  # everyone at that domain
        return True
    if not at:
        return False
    listed.add(entry)  # kept whatever its form: whoever it meant must not be written to
    try:
        parse_email(entry)
    except BadCell:
        return False
    return True


def _malformed(source: RowSource, row: Row, index: int, entry: str) -> Problem:
    try:
        parse_email(entry)
        reason = f"'{entry}' is not an address"
    except BadCell as exc:
        reason = str(exc)
    found = source.at(row, index, f"{reason}; kept on the list as written")
    return replace(found, severity=Severity.WARNING)
