"""The model of `outreach.yaml`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from outreach.core.locales import known_locale
from outreach.core.schema_types import (
    SECRET_IN_FILE,
    Clock,
    Duration,
    Mailbox,
    SingleLine,
    Strict,
)
from outreach.core.timing import zone


def _demo_day(day: date) -> date:
    if not 1900 <= day.year <= 2999:
        raise ValueError("pick a day between the years 1900 and 2999")
    return day


def _known_zone(name: str) -> str:
    zone(name)  # raises ValueError with a hint
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


LocaleTag = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"),
    AfterValidator(known_locale),
]


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]*"

# The columns each kind of data knows (SPEC); contacts, companies and purchases also keep any
# other column (for rules and templates), a suppression list only its addresses.
CONTACT_COLUMNS = (
    "id", "first_name", "last_name", "email", "birthday", "timezone", "locale", "company_id",
    "owner", "tier", "tags", "customer_since", "address_line1", "address_line2", "city",
    "postal_code", "country", "referred_by", "opted_out",
)  # fmt: skip
PURCHASE_COLUMNS = ("id", "contact_id", "date", "amount", "currency", "product")
COMPANY_COLUMNS = ("id", "name", "domain", "aliases", "context", "exclude")
SUPPRESSION_COLUMNS = ("email",)


class SqlSource(Strict):
    """A kind of data read from a SQL database instead of a file: where (an SQLAlchemy URL,
    its password from the environment), what (a table, or a query), and how its columns
    are named (`columns`: ours: theirs; a column not named there keeps its own name)."""

    sql: str | None = Field(
        None,
        min_length=1,
        description="SQLAlchemy URL without a password, e.g. "
        "postgresql+psycopg://outreach@crm-replica:5432/crm or sqlite:///data/crm.db "
        "(a relative SQLite path is the workspace's)",
    )
    url_env: str | None = Field(
        None, min_length=1, description="the environment variable holding the whole URL instead"
    )
    password_env: str | None = Field(
        None, min_length=1, description="the environment variable holding the password"
    )
    table: str | None = Field(
        None,
        pattern=rf"^{_IDENTIFIER}(\.{_IDENTIFIER})?$",
        description="a table or view, optionally with its schema: crm.clients",
    )
    query: str | None = Field(None, min_length=1, description="a SELECT, instead of a table")
    key: str | None = Field(
        None,
        min_length=1,
        description="the column (as the database names it) that names a row in messages; "
        "by default the one mapped to id (suppressions: to email)",
    )
    columns: dict[str, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="our column: the database's column, e.g. {email: mail}; columns not "
        "named here keep their own names",
    )
    batch_rows: int = Field(
        5000, ge=1, le=1_000_000, description="rows fetched from the server at a time"
    )
    refresh: Duration = Field(
        timedelta(minutes=15),
        description="how often the daemon reads it again (a file is read again when it changes)",
    )

    known: ClassVar[tuple[str, ...]] = ()  # this kind's columns
    more: ClassVar[bool] = True  # whether it keeps other columns too

    @field_validator("sql")
    @classmethod
    def _no_password(cls, url: str | None) -> str | None:
        """A password in outreach.yaml is refused: it belongs in the environment."""
        if url is None:
            return url
        try:
            parts = urlsplit(url)
            written = parts.password is not None or "password" in parse_qs(parts.query)
        except ValueError:  # not a URL: said when it is used
            return url
        if written:
            raise PydanticCustomError(
                SECRET_IN_FILE,
                "the URL holds a password: remove it from outreach.yaml (and change it, as "
                "it was written down) and name the variable holding it with password_env:, "
                "or the variable holding the whole URL with url_env:",
            )
        return url

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, columns: dict[str, str]) -> dict[str, str]:
        """Each of ours a column this kind knows (or, where other columns are kept, not a
        near miss of one), and no database column read as two of ours."""
        for ours in columns:
            if ours in cls.known:
                continue
            close = difflib.get_close_matches(ours, cls.known, n=1, cutoff=0.75)
            if close or not cls.more:
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(cls.known)}"
                raise ValueError(f"'{ours}' is not a column of this kind of data; {hint}")
        read: dict[str, str] = {}
        for ours, theirs in columns.items():
            if theirs in read:
                raise ValueError(f"{read[theirs]} and {ours} both read '{theirs}'; map one")
            read[theirs] = ours
        return columns

    @model_validator(mode="after")
    def _one_place_and_one_selection(self) -> SqlSource:
        if (self.sql is None) == (self.url_env is None):
            raise ValueError("give the database as sql: URL, or url_env: VARIABLE; one of them")
        if self.url_env is not None and self.password_env is not None:
            raise ValueError("url_env holds the whole URL, password included: drop password_env")
        if (self.table is None) == (self.query is None):
            raise ValueError("give table: NAME, or query: SELECT ...; one of them")
        return self

    def their(self, column: str) -> str:
        """The database's name for one of our columns."""
        return self.columns.get(column, column)


class ContactsSql(SqlSource):
    known = CONTACT_COLUMNS


class CompaniesSql(SqlSource):
    known = COMPANY_COLUMNS


class PurchasesSql(SqlSource):
    known = PURCHASE_COLUMNS


class SuppressionsSql(SqlSource):
    known, more = SUPPRESSION_COLUMNS, False


_Sql = TypeVar("_Sql", bound=SqlSource)


def _source_kind(value: Any) -> str:
    return "<sql>" if isinstance(value, dict | SqlSource) else "<file>"


# A data kind's place: a workspace file, or a SQL source. The tags are pydantic's names for
# the two forms; `diagnostics` leaves them out of the located path.
SourceOf = Annotated[
    Annotated[str, Tag("<file>")] | Annotated[_Sql, Tag("<sql>")],
    Discriminator(_source_kind),
]
SQL_KINDS = ("contacts", "companies", "purchases", "suppressions")


class DataFiles(Strict):
    """Where each kind of data is: a workspace file, or a SQL source. Only contacts are
    required: another kind outreach.yaml does not name is read from its usual file when
    that exists, else it is empty (`null` says there is none)."""

    contacts: SourceOf[ContactsSql] = "data/contacts.csv"
    companies: SourceOf[CompaniesSql] | None = "data/companies.yaml"
    purchases: SourceOf[PurchasesSql] | None = "data/purchases.csv"
    feeds: str | None = "data/feeds.yaml"
    suppressions: SourceOf[SuppressionsSql] | None = "data/suppressions.csv"
    max_file_mb: float = Field(
        1024, gt=0, le=1_000_000, description="largest CSV data file read, in MB"
    )

    def named(self, kind: str) -> bool:
        """Whether outreach.yaml names this kind's file (then a missing file is an error)."""
        return kind in self.model_fields_set

    def file(self, kind: str) -> str | None:
        """The file a kind is read from (as written), or None: none, or a SQL source."""
        place = getattr(self, kind)  # feeds are always a file
        return place if isinstance(place, str) and place else None

    def sql_sources(self) -> dict[str, SqlSource]:
        """The kinds read from a database, with their sources."""
        found = {kind: getattr(self, kind) for kind in SQL_KINDS}
        return {kind: place for kind, place in found.items() if isinstance(place, SqlSource)}


# How many sends of one channel a dispatcher has under way at once (each its own request).
AT_ONCE = "requests under way at once, per dispatcher"
MOST_AT_ONCE = 64


class SendGridChannel(Strict):
    provider: Literal["sendgrid"]
    api_key_env: str = "SENDGRID_API_KEY"
    from_: Mailbox = Field(alias="from")
    host: str = Field("https://api.sendgrid.com", pattern=r"^https?://\S+$")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds")
    concurrency: int = Field(16, ge=1, le=MOST_AT_ONCE, description=AT_ONCE)


class SmtpChannel(Strict):
    provider: Literal["smtp"]
    host: str = Field("localhost", min_length=1, pattern=r"^\S+$")
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username_env: str | None = None
    password_env: str | None = None
    from_: Mailbox = Field(alias="from")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds")
    concurrency: int = Field(1, ge=1, le=MOST_AT_ONCE, description=AT_ONCE)

    @model_validator(mode="after")
    def _both_credentials_or_none(self) -> SmtpChannel:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env, or neither")
        return self


class FileChannel(Strict):
    provider: Literal["file"]
    path: str
    # One line at a time, in order: lines appended under one lock are not faster in parallel.
    concurrency: int = Field(1, ge=1, le=1, description="one line at a time, in order")


class WebhookChannel(Strict):
    """A gift or task sink that is an HTTP endpoint."""

    provider: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str | None = Field(None, description="HMAC-SHA256 signing secret's variable")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds")
    concurrency: int = Field(1, ge=1, le=MOST_AT_ONCE, description=AT_ONCE)


class WebhookSettings(Strict):
    """How webhook actions are sent (each rule names its own url)."""

    secret_env: str | None = Field(None, description="HMAC-SHA256 signing secret's variable")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds")
    concurrency: int = Field(1, ge=1, le=MOST_AT_ONCE, description=AT_ONCE)


EmailChannel = Annotated[SendGridChannel | SmtpChannel, Field(discriminator="provider")]
SinkChannel = Annotated[FileChannel | WebhookChannel, Field(discriminator="provider")]


class Channels(Strict):
    email: EmailChannel | None = None
    gifts: SinkChannel | None = None
    tasks: SinkChannel | None = None
    webhook: WebhookSettings | None = None


class FrequencyCap(Strict):
    count: int = Field(ge=1, le=1000)
    days: int = Field(ge=1, le=3660)


class QuietHoursPolicy(Strict):
    start: Clock
    end: Clock


class Policies(Strict):
    max_per_contact: FrequencyCap | None = None
    quiet_hours: QuietHoursPolicy | None = None


class Network(Strict):
    """How feeds are fetched."""

    allow_private: bool = Field(
        False, description="allow feeds on loopback, private or link-local addresses"
    )
    timeout: float = Field(30.0, gt=0, le=600, description="seconds per feed, all told")
    max_feed_mb: float = Field(10.0, gt=0, le=500, description="largest feed, in MB")


class Mentions(Strict):
    """How news mentions are found."""

    ner_model: str | None = Field(
        None,
        description="an installed trained spaCy pipeline (package name or workspace path) "
        "whose ORG entities add evidence; optional, the matcher works without one",
    )


class OwnerProfile(Strict):
    name: SingleLine
    title: SingleLine = ""
    phone: SingleLine = ""


class Config(Strict):
    timezone: TimeZoneName = "UTC"
    locale: LocaleTag = "en"
    store: str = "sqlite:///outreach.db"
    data: DataFiles = DataFiles()
    channels: Channels = Channels()
    policies: Policies = Policies()
    network: Network = Network()
    mentions: Mentions = Mentions()
    owners: dict[str, OwnerProfile] = Field(
        default_factory=dict, description="account managers by email: name, title, phone"
    )
    data_dated_for: Annotated[date, AfterValidator(_demo_day)] | None = Field(
        None,
        description="demo data only: the day the data files were written for; every date "
        "in them (contact date cells, purchases, the stories of feed files) then moves with "
        "the clock by (today - this day), so the demo stays alive. Leave it out of a real "
        "workspace",
    )
    outside_workspace: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="folders outside the workspace that outreach may read files from (data "
        "files, links from rules/ or templates/) and write its SQLite store and file sinks to "
        "(absolute, or relative to the workspace); nothing else outside it is read or written, "
        "not even through a symbolic link",
    )

    # Sections outreach.yaml sets that could not be read (reported, then left out): what
    # depends on them is not reported again as missing.
    _unreadable: frozenset[str] = PrivateAttr(default=frozenset())

    def with_unreadable(self, sections: Iterable[str]) -> Config:
        self._unreadable = frozenset(sections)
        return self

    def unreadable(self, section: str) -> bool:
        """Whether outreach.yaml sets `section` (`channels.email`) but it could not be read."""
        return section in self._unreadable or section.split(".")[0] in self._unreadable

    def channel_configured(self, channel: str) -> bool:
        # The webhook action carries its own url, so it needs no channel entry.
        return channel == "webhook" or getattr(self.channels, channel, None) is not None
