"""The facts outreach works from, and the decisions it makes: frozen values, no behaviour
beyond small derived properties."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from typing import Any, NamedTuple, NoReturn, Protocol

from outreach.core.addresses import suppression_key


class _Empty(Mapping[str, Any]):
    """An immutable, hashable empty mapping: a safe shared default for frozen dataclasses."""

    def __getitem__(self, key: str) -> NoReturn:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Mapping[str, Any] = _Empty()
Day = date  # for classes with a field named `date`, which hides the type


@dataclass(frozen=True, slots=True)
class Birthday:
    month: int
    day: int
    year: int | None = None  # None when only MM-DD is known


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    fields: Mapping[str, str]  # every column as written, blank cells as ""
    line: int = 0  # where the row starts in its file, for messages
    birthday: Birthday | None = None
    timezone: str | None = None
    locale: str | None = None
    company_id: str | None = None
    owner: str | None = None
    email: str | None = None
    tags: tuple[str, ...] = ()
    customer_since: date | None = None
    referred_by: str | None = None
    opted_out: bool = False
    # Why nothing may be written to this person although they did not opt out: their row is
    # ambiguous (a duplicate id, an opt-out cell that cannot be read). Fixing the file lifts it.
    withheld: str | None = None
    dates: Mapping[str, date] = EMPTY  # the date columns rules read, parsed and in range

    @property
    def name(self) -> str:
        return self.full_name or self.id

    @property
    def full_name(self) -> str:
        """First and last name, else a `name` column; "" when the data has no name."""
        first, last = self.fields.get("first_name", ""), self.fields.get("last_name", "")
        return " ".join(part for part in (first, last) if part) or self.fields.get("name") or ""


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    domain: str | None = None
    context: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    extra: Mapping[str, Any] = EMPTY


class Purchase(NamedTuple):
    """A tuple, not a dataclass: a workspace holds millions, and tuples are built fastest."""

    id: str
    contact_id: str
    date: date
    amount: Decimal
    currency: str
    product: str
    extra: Mapping[str, str] = EMPTY


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    title: str
    link: str
    published: datetime | None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Mention:
    company_id: str
    entry: FeedEntry
    sentence: str
    confidence: float
    found: datetime | None = None  # when outreach first saw it; None: just now
    # Read from one of the workspace's own feed files under `data_dated_for`: its date moves
    # with the rest of the demo data (outreach.core.moving_dates).
    moves: bool = False


@dataclass(frozen=True, slots=True)
class Owner:
    email: str
    name: str
    title: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Dataset:
    """Everything loaded from the workspace's data files, indexed for planning.

    Build it with `Dataset.build`, which derives the indexes."""

    contacts: Mapping[str, Contact]
    companies: Mapping[str, Company]
    purchases: Mapping[str, tuple[Purchase, ...]]  # per contact, oldest first
    # Addresses never to be written to, by `suppression_key`, and why: the suppression list,
    # and every address on a contact row that opted out (or may have).
    do_not_write: Mapping[str, str]
    mentions: Mapping[str, tuple[Mention, ...]]  # per company
    referrals: Mapping[str, tuple[Contact, ...]]  # per referrer
    # Lookups planning builds at first use (outreach.core.due), each beside the contacts it
    # was built from; a copy made with other mentions shares them.
    indexes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Lookups answered where the data lives (a columnar reader's SQL) instead of by
    # `indexes` built from every contact; None: data held whole in memory.
    lookup: DueIndex | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        contacts: Mapping[str, Contact],
        companies: Mapping[str, Company] = EMPTY,
        purchases: Iterable[Purchase] = (),
        suppressed_emails: Iterable[str] = (),
        mentions: Iterable[Mention] = (),
        opted_out_addresses: Mapping[str, str] = EMPTY,
    ) -> Dataset:
        """`suppressed_emails`: the suppression list, as written; `opted_out_addresses`:
        suppression key -> why, for addresses seen on rows that opted out."""
        by_contact: dict[str, list[Purchase]] = {}
        for purchase in purchases:
            by_contact.setdefault(purchase.contact_id, []).append(purchase)
        referrals: dict[str, list[Contact]] = {}
        for contact in contacts.values():
            if contact.referred_by:
                referrals.setdefault(contact.referred_by, []).append(contact)
        by_company: dict[str, list[Mention]] = {}
        for mention in mentions:
            by_company.setdefault(mention.company_id, []).append(mention)
        return cls(
            contacts=contacts,
            companies=companies,
            purchases={cid: _chronological(items) for cid, items in by_contact.items()},
            do_not_write=not_to_write(suppressed_emails, opted_out_addresses),
            mentions={k: tuple(v) for k, v in by_company.items()},
            referrals={k: tuple(v) for k, v in referrals.items()},
        )


class DueIndex(Protocol):
    """Who may fall due, asked of data that is not held in memory (outreach.core.due says
    when each is asked). Each answer may name too many contacts, never too few; dates are
    local dates, `shift` the trigger's offset. None: any contact may."""

    def select(self, ids: Collection[str]) -> list[Contact]:
        """These contacts in file order, with what planning reads of them (purchases,
        referrals) made ready."""

    def month_days(
        self, column: str, days: Collection[tuple[int, int]], birthday: bool
    ) -> Collection[str]:
        """Whose birthday (`birthday`) or date in `column` falls on one of these days."""

    def dated(
        self, column: str, first: date, last: date, shift: timedelta
    ) -> Collection[str] | None:
        """Whose date in `column`, `shift` later, falls on first..last or overflows."""

    def bought_since(self, first: date) -> Collection[str]:
        """Whose last purchase is on or after `first`."""

    def last_bought(self, first: date, last: date, shift: timedelta) -> Collection[str] | None:
        """Whose last purchase, `shift` later, falls on first..last or overflows."""

    def referrers_of_buyers(self, first: date) -> Collection[str]:
        """Who referred a contact whose last purchase is on or after `first`."""

    def at_companies(self, companies: Collection[str]) -> Collection[str]:
        """Who works at one of these companies."""


def not_to_write(
    suppressed_emails: Iterable[str], opted_out_addresses: Mapping[str, str]
) -> dict[str, str]:
    """`Dataset.do_not_write`: the opted-out addresses, and the suppression list's."""
    return {
        **opted_out_addresses,
        **{suppression_key(e): "on the suppression list" for e in suppressed_emails},
    }


def with_mentions(data: Dataset, found: Iterable[Mention]) -> Dataset:
    """`data` with these news mentions, indexed by company."""
    by_company: dict[str, list[Mention]] = {}
    for mention in found:
        by_company.setdefault(mention.company_id, []).append(mention)
    return replace(data, mentions={k: tuple(v) for k, v in by_company.items()})


def _chronological(purchases: list[Purchase]) -> tuple[Purchase, ...]:
    # Stable, so same-day purchases keep their file order; exports are usually in date
    # order already, and then this costs one pass.
    purchases.sort(key=_date_of)
    return tuple(purchases)


_date_of = itemgetter(2)  # Purchase.date, read in C


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occasion a trigger found for one contact.

    `date` is the occasion itself (the birthday, the purchase); `fire_date` is when the
    action is due (`lead_days` earlier); `known_from` is the first day the occasion could be
    known (a purchase cannot be celebrated before it happens), which bounds how early a gift
    may be shipped. `key` makes the occurrence unique within its rule and contact.
    """

    key: str
    date: Day
    fire_date: Day
    details: Mapping[str, Any] = EMPTY
    known_from: Day | None = None


class Status(StrEnum):
    PLANNED = "planned"
    NEEDS_APPROVAL = "needs_approval"
    SUPPRESSED = "suppressed"
    CAPPED = "capped"
    LATE = "late"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    html: str | None
    template: str  # the template file actually used, after locale fallback
    locale: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine decided for one occurrence of one rule for one contact."""

    rule_id: str
    contact_id: str
    action: str
    channel: str
    send_at: datetime  # on the recipient's clock (their zone), as people read it
    key: str
    status: Status
    priority: int = 0
    reason: str | None = None
    message: Message | None = None
    occasion: Mapping[str, Any] = EMPTY
    details: Mapping[str, Any] = EMPTY  # action particulars: recipient, gift...
    deadline: datetime | None = None  # the last moment it may still go (catch-up window)
    error_at: str | None = None  # for an error in a template: where (path:line)
