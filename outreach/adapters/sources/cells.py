"""Reading one cell of a data file: each parser returns the typed value or raises BadCell
with what is expected, so the cell can be pointed at and the rest of its row kept."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from outreach.core.addresses import deliverable
from outreach.core.locales import UNKNOWN, babel_locale
from outreach.core.model import Birthday
from outreach.core.timing import check_date, zone

_MONTH_DAY = re.compile(r"^(?:--)?(\d{2})-(\d{2})$")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}
# Amounts beyond these are mistakes (or attacks): a quadrillion, or a trillionth.
MAX_AMOUNT = Decimal(10) ** 15
SMALLEST_DIGIT = -12  # the furthest decimal place an amount may use


class BadCell(ValueError):
    """A cell that cannot be understood; the message says what is expected."""


def quoted(text: str, limit: int = 60) -> str:
    """A cell's value as a message quotes it: in quotes, and cut short (a cell may hold a
    megabyte; a problem is one line)."""
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[: limit - 10]}…{text[-5:]}' ({len(text)} characters)"


def parse_date(text: str) -> date:
    try:
        return check_date(date.fromisoformat(text))
    except ValueError as exc:
        detail = str(exc) if str(exc).startswith("outside") else "not a date"
        raise BadCell(f"{quoted(text)} is {detail}; write YYYY-MM-DD") from None


def parse_birthday(text: str) -> Birthday:
    short = _MONTH_DAY.match(text)
    if short:
        month, day = int(short[1]), int(short[2])
        try:
            date(2000, month, day)  # a leap year: 02-29 is a real birthday
        except ValueError:
            raise BadCell(f"{quoted(text)} is not a day of the year; write MM-DD") from None
        return Birthday(month, day)
    try:
        full = check_date(date.fromisoformat(text))
    except ValueError as exc:
        detail = str(exc) if str(exc).startswith("outside") else "not a birthday"
        raise BadCell(f"{quoted(text)} is {detail}; write YYYY-MM-DD, or MM-DD") from None
    return Birthday(full.month, full.day, full.year)


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadCell(f"{quoted(text)} is not true or false")


def parse_email(text: str) -> str:
    try:
        return deliverable(text)
    except ValueError as exc:
        raise BadCell(f"{quoted(text)} is not a usable email address: {exc}") from None


def parse_locale(text: str) -> str:
    if babel_locale(text) is None:
        raise BadCell(f"{quoted(text)} {UNKNOWN}")
    return text


def parse_zone(text: str) -> str:
    """The IANA name of a time zone (resolved by city when the region is wrong)."""
    try:
        return zone(text).key
    except ValueError as exc:
        raise BadCell(str(exc)) from None


def parse_amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadCell(
            f"{quoted(text)} is not an amount; write digits with a decimal point, e.g. 1234.50"
        ) from None
    if not value.is_finite() or value < 0:
        raise BadCell(f"{quoted(text)} is not a positive amount")
    if value > MAX_AMOUNT or (value and value.adjusted() < SMALLEST_DIGIT):
        raise BadCell(f"{quoted(text)} is out of range for an amount (0 to {MAX_AMOUNT:,})")
    return value


def plausible_amount(value: Decimal) -> bool:
    """What `parse_amount` accepts, for a value already made (the fast path)."""
    return 0 <= value <= MAX_AMOUNT and (not value or value.adjusted() >= SMALLEST_DIGIT)
