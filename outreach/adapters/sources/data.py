"""Load purchases and companies (contacts: `contacts.py`, suppressions: `suppressions.py`);
every bad row becomes a problem pointing at its file and line, and the rest is used."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import Field, ValidationError

from outreach.adapters.sources.cells import (
    BadCell,
    parse_amount,
    parse_date,
    plausible_amount,
    quoted,
)
from outreach.adapters.sources.csvfile import MAX_FILE_BYTES, CsvFile
from outreach.adapters.sources.rows import RowSource
from outreach.adapters.sources.yamlfile import load_yaml_file
from outreach.core.config import PURCHASE_COLUMNS
from outreach.core.diagnostics import validation_problems
from outreach.core.keys import MAX_ID
from outreach.core.model import EMPTY, Company, Contact, Purchase
from outreach.core.problems import Problem, problem, warning
from outreach.core.schema_types import Strict
from outreach.core.wording import counted

TOO_LONG = f"the id is longer than {MAX_ID} characters"  # it becomes part of action keys


class _CellError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


class _UnknownContact(_CellError):
    pass


def load_purchases(
    path: Path,
    shown_as: str,
    contacts: dict[str, Contact],
    max_bytes: int = MAX_FILE_BYTES,
    contacts_whole: bool = True,
) -> tuple[list[Purchase], list[Problem]]:
    """The purchases of known contacts. When the contacts file was not read whole
    (`contacts_whole` false), a purchase of a contact not read is no error of its own: those
    are counted in one warning rather than reported row by row."""
    return read_purchases(CsvFile(path, shown_as, max_bytes), contacts, contacts_whole)


def read_purchases(
    source: RowSource, contacts: dict[str, Contact], contacts_whole: bool = True
) -> tuple[list[Purchase], list[Problem]]:
    """The purchases of any row source (a file, a table): one parser for both."""
    purchases: list[Purchase] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    unread = 0
    parse: _PurchaseParser | None = None
    for row in source.rows():
        if parse is None:
            if not source.require(*PURCHASE_COLUMNS):
                break
            parse = _PurchaseParser(source, contacts)
        try:
            purchase = parse(row[0])
        except _CellError as exc:
            if isinstance(exc, _UnknownContact) and not contacts_whole:
                unread += 1
                continue
            message = f"{exc.column}: {exc.message}; this row is skipped"
            problems.append(source.at(row, exc.column, message))
            continue
        if purchase.id in seen:
            message = f"duplicate purchase id '{purchase.id}'; this row is skipped"
            problems.append(source.at(row, "id", message))
            continue
        seen.add(purchase.id)
        purchases.append(purchase)
    if unread:
        message = (
            f"{counted(unread, 'row')} {'names' if unread == 1 else 'name'} contacts that were not "
            "read (the contacts file was not read "
            "whole); they are used once it is fixed"
        )
        problems.append(warning(source.shown_as, None, None, message))
    return purchases, source.problems + problems


class _PurchaseParser:
    """Turns rows into purchases, fast: values seen before (dates, currencies, products,
    contact ids) come from caches, which also makes equal values share one object; anything
    unusual takes the careful path, which explains what is wrong."""

    def __init__(self, source: RowSource, contacts: dict[str, Contact]) -> None:
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
            if pid and len(pid) <= MAX_ID and plausible_amount(value) and not self.extra:
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
            raise _CellError(
                "id", f"{counted(len(cells), 'cell')}, fewer than the header's"
            ) from None
        if not pid:
            raise _CellError("id", "the id is empty")
        if len(pid) > MAX_ID:
            raise _CellError("id", TOO_LONG)
        contact = self.contacts.get(cid)
        if contact is None:
            raise _UnknownContact("contact_id", f"no contact with id '{cid}'")
        extra = {n: cells[i] for n, i in self.extra.items() if i < len(cells)}
        return Purchase(
            pid,
            contact.id,
            self._date(day),
            self._amount(amount),
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

    @staticmethod
    def _amount(text: str) -> Decimal:
        try:
            return parse_amount(text)
        except BadCell as exc:
            raise _CellError("amount", str(exc)) from None

    def _currency(self, text: str) -> str:
        code = text.upper()
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise _CellError("currency", f"{quoted(text)} is not a currency code; write e.g. EUR")
        return self.currencies.setdefault(text, code)


# A name, alias or phrase longer than this is no company's: the matcher's automaton does not
# take one of hundreds of thousands of characters gracefully.
MAX_PHRASE = 200
Phrase = Annotated[str, Field(min_length=1, max_length=MAX_PHRASE)]


class CompanyModel(Strict):
    id: str = Field(min_length=1, max_length=MAX_ID)
    name: Phrase
    aliases: list[Phrase] = Field(default_factory=list, max_length=100)
    domain: str | None = Field(None, max_length=253)
    context: list[Phrase] = Field(default_factory=list, max_length=100)
    exclude: list[Phrase] = Field(default_factory=list, max_length=100)
    extra: dict[str, Any] = Field(default_factory=dict, description="anything else, for templates")


class _CompaniesFile(Strict):
    companies: list[CompanyModel]


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
            model = CompanyModel.model_validate(item)
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
        companies[model.id] = company_of(model)
    return companies, problems


def company_of(model: CompanyModel) -> Company:
    return Company(
        id=model.id,
        name=model.name,
        aliases=tuple(model.aliases),
        domain=model.domain,
        context=tuple(model.context),
        exclude=tuple(model.exclude),
        extra=MappingProxyType(model.extra),
    )
