"""Load contacts, purchases, suppressions and companies; every bad row becomes a problem
pointing at its file and line, and the rest is used."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import Field, ValidationError

from outreach.adapters.sources.csvfile import MAX_FILE_BYTES, CsvFile, Row, cell
from outreach.adapters.sources.yamlfile import load_yaml_file
from outreach.core.diagnostics import validation_problems
from outreach.core.model import EMPTY, Birthday, Company, Contact, Purchase
from outreach.core.problems import Problem, Severity, problem, warning
from outreach.core.schema_types import Strict
from outreach.core.timing import zone

PURCHASE_COLUMNS = ("id", "contact_id", "date", "amount", "currency", "product")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_MONTH_DAY = re.compile(r"^(?:--)?(\d{2})-(\d{2})$")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


class BadCell(ValueError):
    """A cell that cannot be understood; the message says what is expected."""


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadCell(f"'{text}' is not a date; write YYYY-MM-DD") from None


def parse_birthday(text: str) -> Birthday:
    short = _MONTH_DAY.match(text)
    if short:
        month, day = int(short[1]), int(short[2])
        try:
            date(2000, month, day)  # a leap year: 02-29 is a real birthday
        except ValueError:
            raise BadCell(f"'{text}' is not a day of the year; write MM-DD") from None
        return Birthday(month, day)
    try:
        full = date.fromisoformat(text)
    except ValueError:
        raise BadCell(f"'{text}' is not a birthday; write YYYY-MM-DD, or MM-DD") from None
    return Birthday(full.month, full.day, full.year)


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadCell(f"'{text}' is not true or false")


def parse_email(text: str) -> str:
    if not _EMAIL.match(text):
        raise BadCell(f"'{text}' is not an email address")
    return text


@lru_cache(maxsize=512)
def parse_locale(text: str) -> str:
    try:
        Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise BadCell(
            f"'{text}' is not a known locale; use a BCP 47 tag such as en-GB or is"
        ) from None
    return text


def load_contacts(
    path: Path, shown_as: str, max_bytes: int = MAX_FILE_BYTES
) -> tuple[dict[str, Contact], list[Problem]]:
    source = CsvFile(path, shown_as, max_bytes)
    contacts: dict[str, Contact] = {}
    problems: list[Problem] = []
    for row in source.rows():
        if not source.require("id"):
            break
        contact = _contact(source, row, problems)
        if contact is None:
            continue
        if contact.id in contacts:
            first = contacts[contact.id].line
            problems.append(
                source.at(
                    row,
                    "id",
                    f"duplicate id '{contact.id}' (first on line {first}); this row is skipped",
                )
            )
            continue
        contacts[contact.id] = contact
    return contacts, source.problems + problems


def _contact(source: CsvFile, row: Row, problems: list[Problem]) -> Contact | None:
    names, cells = source.names, row[0]
    if len(cells) < len(names):
        cells = cells + [""] * (len(names) - len(cells))
    fields = dict(zip(names, map(str.strip, cells), strict=False))
    fields.pop("", None)  # a column without a name
    if not fields["id"]:
        problems.append(source.at(row, "id", "the id is empty; this row is skipped"))
        return None
    try:
        values = _typed_contact_fields(fields)
    except _CellError as exc:
        problems.append(
            source.at(row, exc.column, f"{exc.column}: {exc.message}; this row is skipped")
        )
        return None
    if values.pop("_zone_note", None):
        problems.append(
            _as_warning(
                source.at(
                    row,
                    "timezone",
                    f"timezone '{fields['timezone']}' is not an "
                    f"IANA name; using {values['timezone']}",
                )
            )
        )
    return Contact(id=fields["id"], fields=MappingProxyType(fields), line=row[1], **values)


class _CellError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _typed_contact_fields(fields: dict[str, str]) -> dict[str, Any]:
    def typed(column: str, parse: Any) -> Any:
        text = fields.get(column, "")
        if not text and parse is not parse_bool:
            return None
        try:
            return parse(text)
        except BadCell as exc:
            raise _CellError(column, str(exc)) from None

    tz_name = typed("timezone", _zone_name)
    return {
        "birthday": typed("birthday", parse_birthday),
        "timezone": tz_name,
        "_zone_note": tz_name is not None and tz_name != fields["timezone"],
        "locale": typed("locale", parse_locale),
        "company_id": fields.get("company_id") or None,
        "owner": typed("owner", parse_email),
        "email": typed("email", parse_email),
        "tags": tuple(t.strip() for t in fields.get("tags", "").split(";") if t.strip()),
        "customer_since": typed("customer_since", parse_date),
        "referred_by": fields.get("referred_by") or None,
        "opted_out": typed("opted_out", parse_bool),
    }


def _zone_name(text: str) -> str:
    try:
        return zone(text).key
    except ValueError as exc:
        raise BadCell(str(exc)) from None


def _as_warning(found: Problem) -> Problem:
    where = found.location
    return warning(where.path, where.line, where.col, found.message)


def check_references(
    contacts: dict[str, Contact], companies: dict[str, Company], shown_as: str
) -> list[Problem]:
    """Warnings for contacts that refer to a company or a referrer that does not exist."""
    found = []
    for contact in contacts.values():
        if contact.company_id and companies and contact.company_id not in companies:
            found.append(
                warning(
                    shown_as,
                    contact.line,
                    None,
                    f"company_id '{contact.company_id}' is not in companies",
                )
            )
        if contact.referred_by and contact.referred_by not in contacts:
            found.append(
                warning(
                    shown_as,
                    contact.line,
                    None,
                    f"referred_by '{contact.referred_by}' is not a contact id",
                )
            )
    return found


def load_purchases(
    path: Path, shown_as: str, contacts: dict[str, Contact], max_bytes: int = MAX_FILE_BYTES
) -> tuple[list[Purchase], list[Problem]]:
    source = CsvFile(path, shown_as, max_bytes)
    purchases: list[Purchase] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    parse: _PurchaseParser | None = None
    for row in source.rows():
        if parse is None:
            if not source.require(*PURCHASE_COLUMNS):
                break
            parse = _PurchaseParser(source, contacts)
        try:
            purchase = parse(row[0])
        except _CellError as exc:
            message = f"{exc.column}: {exc.message}; this row is skipped"
            problems.append(source.at(row, exc.column, message))
            continue
        if purchase.id in seen:
            message = f"duplicate purchase id '{purchase.id}'; this row is skipped"
            problems.append(source.at(row, "id", message))
            continue
        seen.add(purchase.id)
        purchases.append(purchase)
    return purchases, source.problems + problems


class _PurchaseParser:
    """Turns rows into purchases, fast: values seen before (dates, currencies, products,
    contact ids) come from caches, which also makes equal values share one object; anything
    unusual takes the careful path, which explains what is wrong."""

    def __init__(self, source: CsvFile, contacts: dict[str, Contact]) -> None:
        self.columns = itemgetter(*(source.header[c] for c in PURCHASE_COLUMNS))
        self.extra = {n: i for n, i in source.header.items() if n not in PURCHASE_COLUMNS}
        self.contacts = contacts
        self.dates: dict[str, date] = {}
        self.currencies: dict[str, str] = {}
        self.products: dict[str, str] = {}

    def __call__(self, cells: list[str]) -> Purchase:
        try:
            pid, cid, day, amount, currency, product = self.columns(cells)
            value = Decimal(amount)
            if pid and value >= 0 and value.is_finite() and not self.extra:
                fields = (
                    pid,
                    self.contacts[cid].id,
                    self.dates[day],
                    value,
                    self.currencies[currency],
                    self.products[product],
                    EMPTY,
                )
                return tuple.__new__(Purchase, fields)  # NamedTuple's own __new__ is slower
        except (KeyError, IndexError, InvalidOperation):
            pass
        return self._careful(cells)

    def _careful(self, cells: list[str]) -> Purchase:
        try:
            pid, cid, day, amount, currency, product = (c.strip() for c in self.columns(cells))
        except IndexError:
            raise _CellError("id", f"{len(cells)} cells, fewer than the header's") from None
        if not pid:
            raise _CellError("id", "the id is empty")
        contact = self.contacts.get(cid)
        if contact is None:
            raise _CellError("contact_id", f"no contact with id '{cid}'")
        extra = {n: cells[i] for n, i in self.extra.items() if i < len(cells)}
        return Purchase(
            pid,
            contact.id,
            self._date(day),
            _amount(amount),
            self._currency(currency),
            self.products.setdefault(product, product),
            extra or EMPTY,
        )

    def _date(self, text: str) -> date:
        if text not in self.dates:
            try:
                self.dates[text] = parse_date(text)
            except BadCell as exc:
                raise _CellError("date", str(exc)) from None
        return self.dates[text]

    def _currency(self, text: str) -> str:
        code = text.upper()
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise _CellError("currency", f"'{text}' is not a currency code; write e.g. EUR")
        return self.currencies.setdefault(text, code)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _CellError(
            "amount", f"'{text}' is not an amount; write digits with a decimal point, e.g. 1234.50"
        ) from None
    if not value.is_finite() or value < 0:
        raise _CellError("amount", f"'{text}' is not a positive amount")
    return value


def load_suppressions(
    path: Path, shown_as: str, max_bytes: int = MAX_FILE_BYTES
) -> tuple[set[str], list[Problem]]:
    source = CsvFile(path, shown_as, max_bytes)
    emails: set[str] = set()
    problems: list[Problem] = []
    for row in source.rows():
        if not source.require("email"):
            break
        text = cell(row, source.header, "email")
        try:
            emails.add(parse_email(text).lower())
        except BadCell as exc:
            # Kept as written: whoever it meant must not be written to by mistake.
            emails.add(text.strip().lower())
            found = source.at(row, "email", f"email: {exc}; kept on the list as written")
            problems.append(replace(found, severity=Severity.WARNING))
    return emails, source.problems + problems


class _CompanyModel(Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    domain: str | None = None
    context: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, description="anything else, for templates")


class _CompaniesFile(Strict):
    companies: list[_CompanyModel]


def load_companies(path: Path, shown_as: str) -> tuple[dict[str, Company], list[Problem]]:
    document = load_yaml_file(path, shown_as, max_bytes=50_000_000)
    problems = list(document.problems)
    data = document.data
    if data is None:
        return {}, problems
    items = data.get("companies") if isinstance(data, dict) else None
    if not isinstance(items, list):
        problems.append(problem(shown_as, 1, 1, "expected `companies:` with a list of companies"))
        return {}, problems
    companies: dict[str, Company] = {}
    for i, item in enumerate(items):
        try:
            model = _CompanyModel.model_validate(item)
        except ValidationError as exc:
            problems += validation_problems(exc, document.locate, _CompaniesFile, ("companies", i))
            continue
        if model.id in companies:
            where = document.locate(("companies", i, "id"), False)
            problems.append(
                problem(
                    where.path,
                    where.line,
                    where.col,
                    f"duplicate company id '{model.id}'; this one is skipped",
                )
            )
            continue
        companies[model.id] = Company(
            id=model.id,
            name=model.name,
            aliases=tuple(model.aliases),
            domain=model.domain,
            context=tuple(model.context),
            exclude=tuple(model.exclude),
            extra=MappingProxyType(model.extra),
        )
    return companies, problems
