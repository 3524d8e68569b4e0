"""contacts.csv: one row per person, every problem located at its file:line:col.

A bad cell makes only that cell unusable; the rest of the row still counts. Two cells are
read the other way round, because a mistake there could mean writing to someone who said no:
an opt-out that cannot be read, or an id on two rows, withholds the contact until the file is
fixed, and every address on a row that opted out (or may have) is never written to, whoever
else it is listed under.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from outreach.adapters.sources.cells import (
    BadCell,
    parse_birthday,
    parse_bool,
    parse_date,
    parse_email,
    parse_locale,
    parse_zone,
    quoted,
)
from outreach.adapters.sources.csvfile import (
    MAX_FILE_BYTES,
    CsvFile,
    Row,
    column_offset,
    header_key,
)
from outreach.core.addresses import addresses_in, suppression_key
from outreach.core.keys import MAX_ID
from outreach.core.model import Company, Contact
from outreach.core.problems import Problem, Severity, problem, warning
from outreach.core.wording import counted

# The columns SPEC names; a header spelled differently ("First Name", "E-mail") is read as one.
KNOWN_COLUMNS = (
    "id", "first_name", "last_name", "email", "birthday", "timezone", "locale", "company_id",
    "owner", "tier", "tags", "customer_since", "address_line1", "address_line2", "city",
    "postal_code", "country", "referred_by", "opted_out",
)  # fmt: skip
_ALIASES = {
    "e_mail": "email", "email_address": "email", "e_mail_address": "email",
    "firstname": "first_name", "lastname": "last_name", "time_zone": "timezone",
    "date_of_birth": "birthday", "dob": "birthday", "optedout": "opted_out",
}  # fmt: skip
# Headers that may mean "never write to this person" ("Email Opt-Out", "Unsubscribed?",
# "do_not_contact"...): each one counts, and a cell in one that is not plainly false withholds.
_OPT_OUT = re.compile(
    r"opt(ed)?_?outs?|unsubscri|do_?not|(^|_)dnc($|_)|no_?(contact|e_?mail|mail|marketing)"
    r"|suppress|black_?list|block_?list"
)
# Headers that ask the other way round ("Accepts Email Marketing", "subscribed",
# "email_consent", "opted_in"): false there means no.
_CONSENT = re.compile(r"accepts?|consent|opt(ed)?_?in|subscribed|permission|allow")
_EMAIL_MAKES = "nothing is emailed to this contact until it is fixed"


@dataclass
class ContactsFile:
    """What contacts.csv holds: the contacts by id, its problems, and the addresses (by
    suppression key) seen on rows that opted out or may have, with why."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    do_not_write: dict[str, str] = field(default_factory=dict)
    incomplete: str | None = None  # why part of the file was not read: an opt-out may be in it


def load_contacts(
    path: Path,
    shown_as: str,
    date_columns: Collection[str] = (),
    max_bytes: int = MAX_FILE_BYTES,
) -> ContactsFile:
    """Read contacts.csv; `date_columns` are the columns rules read as dates (checked here,
    where a bad cell can be pointed at)."""
    source = CsvFile(path, shown_as, max_bytes)
    reader: _Reader | None = None
    found = ContactsFile()
    for row in source.rows():
        if reader is None:
            reader = _Reader(source, found, tuple(date_columns))  # reads the header first
            if not source.require("id"):
                found.incomplete = "it has no id column"
                break
        reader.read(row)
    found.problems[:0] = source.problems
    found.incomplete = source.incomplete or found.incomplete
    _withhold_one_person_twice(found, shown_as)
    return found


def _withhold_one_person_twice(found: ContactsFile, shown_as: str) -> None:
    """Two contacts that may be one person — ids equal but for case or Unicode form, or one
    mailbox — are withheld: a second birthday note is the embarrassment this engine exists
    to avoid, and which row is right cannot be told."""
    groups: dict[str, list[Contact]] = {}
    for contact in found.contacts.values():
        groups.setdefault("id " + unicodedata.normalize("NFKC", contact.id).casefold(), []).append(
            contact
        )
        if contact.email:
            groups.setdefault("email " + suppression_key(contact.email), []).append(contact)
    for same in groups.values():
        if len(same) < 2:
            continue
        lines = ", ".join(str(c.line) for c in same)
        why = f"withheld: lines {lines} of {shown_as} may be one person (the same id or address)"
        for contact in same:
            found.contacts[contact.id] = replace(found.contacts[contact.id], withheld=why)
            message = f"contact '{contact.id}' may be the same person as lines {lines}; merge them"
            found.problems.append(problem(shown_as, contact.line, None, message))


@dataclass(frozen=True)
class _Header:
    opt_outs: tuple[int, ...]  # every column that may mean an opt-out, by index
    consents: tuple[int, ...]  # every column whose false means an opt-out
    emails: tuple[int, ...]  # every column holding the email (a file may have two)
    width: int  # cells a row should have


class _Reader:
    def __init__(self, source: CsvFile, found: ContactsFile, date_columns: tuple[str, ...]):
        self.source, self.found, self.date_columns = source, found, date_columns
        self.header = _read_header(source, found.problems)

    def read(self, row: Row) -> None:
        fields = self._fields(row)
        values, bad = _typed(fields, self.date_columns)
        for column, message in sorted(bad, key=lambda cell: self.source.header[cell[0]]):
            self._report(row, column, message)
        if values["timezone"] and values["timezone"] != fields["timezone"]:
            note = (
                f"timezone '{fields['timezone']}' is not an IANA name; using {values['timezone']}"
            )
            found = self.source.at(row, "timezone", note)
            self.found.problems.append(replace(found, severity=Severity.WARNING))
        withheld, opted = self._withheld(row)
        if not fields.get("id"):
            self._report(row, "id", "the id is empty; this row is skipped")
            return
        if len(fields["id"]) > MAX_ID:  # it becomes part of action keys
            self._report(
                row, "id", f"the id is longer than {MAX_ID} characters; this row is skipped"
            )
            return
        contact = Contact(
            id=fields["id"],
            fields=MappingProxyType(fields),
            line=row[1],
            opted_out=opted,
            withheld=withheld,
            **values,
        )
        self._keep(contact, row)

    def _fields(self, row: Row) -> dict[str, str]:
        """Each column's cell, stripped; of two columns with one name, the first (as the
        header index says; the opt-out and email columns are read all: `_withheld`)."""
        fields: dict[str, str] = {}
        for name, text in zip(self.source.names, row[0], strict=False):
            fields.setdefault(name, text.strip())
        for name in self.source.names[len(row[0]) :]:
            fields.setdefault(name, "")
        fields.pop("", None)  # a column without a name
        return fields

    def _withheld(self, row: Row) -> tuple[str | None, bool]:
        """(why the row's contact is withheld, whether it opted out): every opt-out column
        counts, an unreadable one withholds, and so do two email columns that disagree and a
        row whose cells do not line up with the header; every address on a row that opted
        out, or may have, is never written to."""
        opted, unreadable = self._opt_out(row)
        misaligned = self._misaligned(row)
        cells = range(len(row[0])) if misaligned else self.header.emails
        addresses = [a for i in cells for a in addresses_in(_cell(row, i))]
        if opted or unreadable or misaligned:
            for address in addresses:
                self._do_not_write(address, row[1], opted)
        if unreadable or misaligned:
            what = "an opt-out cell" if unreadable else "its cells do not line up with the header"
            return f"withheld: on line {row[1]}, {what} cannot be read", opted
        if len({suppression_key(address) for address in addresses}) > 1:
            self._report(row, self.header.emails[-1], "email columns disagree; fix one")
            return f"withheld: its email columns on line {row[1]} disagree", opted
        return None, opted

    def _misaligned(self, row: Row) -> bool:
        """A row longer than the header, or one that ends before an opt-out column: which
        cell says what cannot be told (a line break in a cell, a stray comma)."""
        cells, width = len(row[0]), self.header.width
        last = max((*self.header.opt_outs, *self.header.consents), default=-1)
        if cells > width or cells <= last:
            message = (
                f"{counted(cells, 'cell')} where the header has {width}; check the row's quotes"
            )
            self._report(row, "id", f"{message}: nothing is written to this row's addresses")
            return True
        return False

    def _opt_out(self, row: Row) -> tuple[bool, bool]:
        """(opted out, an opt-out cell cannot be read)."""
        opted = unreadable = False
        for index, consent in [(i, False) for i in self.header.opt_outs] + [
            (i, True) for i in self.header.consents
        ]:
            text = _cell(row, index)
            try:
                says = _says(text)
            except BadCell as exc:
                unreadable = True
                self._report(
                    row, index, f"{exc}; nothing is written to this contact until it is fixed"
                )
                continue
            opted |= (says is False) if consent else bool(says)
        return opted, unreadable

    def _do_not_write(self, address: str, line: int, opted: bool) -> None:
        if address:
            why = "opted out" if opted else "possibly opted out (its row cannot be read whole)"
            self.found.do_not_write[suppression_key(address)] = (
                f"{why}, {self.source.shown_as} line {line}"
            )

    def _keep(self, contact: Contact, row: Row) -> None:
        first = self.found.contacts.get(contact.id)
        if first is None:
            self.found.contacts[contact.id] = contact
            return
        why = (
            f"withheld: id '{contact.id}' is on lines {first.line} and {contact.line} of "
            f"{self.source.shown_as}; nothing is written to them until one row is removed"
        )
        self.found.contacts[contact.id] = replace(
            first, withheld=why, opted_out=first.opted_out or contact.opted_out
        )
        self._report(row, "id", f"duplicate id '{contact.id}' (first on line {first.line}); "
                     "the contact is withheld until one row is removed")  # fmt: skip

    def _report(self, row: Row, column: str | int, message: str) -> None:
        self.found.problems.append(self.source.at(row, column, message))


def _says(text: str) -> bool | None:
    """A yes or no cell: True, False, None (empty); a date counts as yes (when they opted
    out, or in); BadCell for anything else."""
    if not text:
        return None
    try:
        return parse_bool(text)
    except BadCell:
        try:
            parse_date(text[:10])
        except BadCell:
            raise BadCell(f"{quoted(text)} is not true or false") from None
        return True


def _cell(row: Row, index: int) -> str:
    cells = row[0]
    return cells[index].strip() if index < len(cells) else ""


def _read_header(source: CsvFile, problems: list[Problem]) -> _Header:
    """Read headers spelled unlike SPEC ("Opted Out", "E-mail") as the columns they name;
    find every opt-out and email column."""
    opt_outs, consents, emails = [], [], []
    written = ",".join(source.names)  # the header as read, for the notes' columns
    for index, name in enumerate(list(source.names)):
        key = header_key(name)
        canonical = key if key in KNOWN_COLUMNS else _ALIASES.get(key)
        if canonical and canonical != name and canonical not in source.header:
            source.names[index] = canonical
            source.header[canonical] = index
            note = f"column '{name}' is read as {canonical}"
            problems.append(_header_note(source.shown_as, written, index, note))
        if canonical == "email":
            emails.append(index)
        if canonical == "opted_out" or _OPT_OUT.search(key):
            if canonical != "opted_out":
                note = f"column '{name}' is read as an opt-out: true there means never write"
                problems.append(_header_note(source.shown_as, written, index, note))
            opt_outs.append(index)
        elif _CONSENT.search(key):
            note = f"column '{name}' is read as consent: false there means never write"
            problems.append(_header_note(source.shown_as, written, index, note))
            consents.append(index)
    return _Header(tuple(opt_outs), tuple(consents), tuple(emails), len(source.names))


def canonical_column(name: str) -> str:
    """The column a header names, as the loader reads it ("Date of Birth" is birthday)."""
    key = header_key(name)
    return key if key in KNOWN_COLUMNS else _ALIASES.get(key, name.strip())


def _header_note(shown_as: str, header: str, index: int, message: str) -> Problem:
    return warning(shown_as, 1, column_offset(header, index), message)


def _typed(
    fields: dict[str, str], date_columns: tuple[str, ...]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The typed values of a row's known cells, and every bad cell as (column, message)."""
    bad: list[tuple[str, str]] = []

    def typed(column: str, parse: Callable[[str], Any], unusable: str = "") -> Any:
        text = fields.get(column, "")
        if not text:
            return None
        try:
            return parse(text)
        except BadCell as exc:
            bad.append((column, f"{column}: {exc}; {unusable or 'the cell is not used'}"))
            return None

    dates: dict[str, date] = {}
    for column in date_columns:
        if (day := typed(column, parse_date)) is not None:
            dates[column] = day
    values = {
        "birthday": typed("birthday", parse_birthday),
        "timezone": typed("timezone", parse_zone, "the workspace's time zone is used"),
        "locale": typed("locale", parse_locale, "the workspace's locale is used"),
        "company_id": fields.get("company_id") or None,
        "owner": typed("owner", parse_email),
        "email": typed("email", parse_email, _EMAIL_MAKES),
        "tags": tuple(t.strip() for t in fields.get("tags", "").split(";") if t.strip()),
        "customer_since": typed("customer_since", parse_date),
        "referred_by": fields.get("referred_by") or None,
        "dates": MappingProxyType(dates),
    }
    return values, bad


def check_references(
    contacts: dict[str, Contact], companies: dict[str, Company], shown_as: str
) -> list[Problem]:
    """Warnings for contacts that refer to a company or a referrer that does not exist."""
    return [
        found
        for contact in contacts.values()
        for found in reference_problems(contact, contacts, companies, shown_as)
    ]


def reference_problems(
    contact: Contact, ids: Container[str], companies: Mapping[str, Company], shown_as: str
) -> list[Problem]:
    """One contact's warnings of `check_references`; `ids`: the contacts' ids."""
    found = []
    if contact.company_id and companies and contact.company_id not in companies:
        message = f"company_id '{contact.company_id}' is not in companies"
        found.append(warning(shown_as, contact.line, None, message))
    if contact.referred_by and contact.referred_by not in ids:
        message = f"referred_by '{contact.referred_by}' is not a contact id"
        found.append(warning(shown_as, contact.line, None, message))
    return found
