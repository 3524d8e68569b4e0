"""What the store keeps besides the outbox, as the values it hands out: the daemons working
on it (`Holder`), when each job last ran (`Tick`), what a daemon runs on instead of the
workspace as it stands (`Fallback`), and each feed's polling state (`FeedState`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Holder:
    holder: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Tick:
    """A daemon job's last run."""

    job: str
    at: datetime
    seconds: float | None
    error: str | None
    every: float | None  # seconds between its runs; None from an older outreach


@dataclass(frozen=True)
class Fallback:
    """What the daemon runs on instead of the workspace as it stands, since when, and why."""

    topic: str  # "rules": the last good rules and templates; "config": nothing is sent
    since: datetime
    reason: str


@dataclass(frozen=True)
class FeedState:
    """One feed's conditional-GET state and last fetch, under its key (the url without its
    secrets)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetch: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    entries_seen: int = 0
