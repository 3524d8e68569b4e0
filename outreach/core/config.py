"""The model of `outreach.yaml`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from outreach.core.locales import known_locale
from outreach.core.schema_types import Clock, Mailbox, SingleLine, Strict
from outreach.core.shards import DEFAULT_SHARDS, MOST_SHARDS
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


class DataFiles(Strict):
    """Where each kind of data is. Only contacts are required: another kind outreach.yaml
    does not name is read from its usual file when that exists, else it is empty (`null`
    says there is none)."""

    contacts: str = "data/contacts.csv"
    companies: str | None = "data/companies.yaml"
    purchases: str | None = "data/purchases.csv"
    feeds: str | None = "data/feeds.yaml"
    suppressions: str | None = "data/suppressions.csv"
    max_file_mb: float = Field(
        1024, gt=0, le=1_000_000, description="largest CSV data file read, in MB"
    )

    def named(self, kind: str) -> bool:
        """Whether outreach.yaml names this kind's file (then a missing file is an error)."""
        return kind in self.model_fields_set


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


class DaemonSettings(Strict):
    """How daemons sharing one store split the work."""

    planning_shards: int = Field(
        DEFAULT_SHARDS,
        ge=1,
        le=MOST_SHARDS,
        description="contacts are split into this many shards by a hash of their id; daemons "
        "sharing a PostgreSQL store each plan the shards they hold a lease on. Every daemon "
        "on one store must use the same number",
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
    daemons: DaemonSettings = DaemonSettings()
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
