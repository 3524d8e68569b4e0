"""The composition root: the one place that turns a workspace's configuration into adapters —
the store, the channels, the feed fetcher, the clock. The CLI and the daemon ask here;
services are handed what is built (or ask here, never building adapters themselves), so a
test or a dry run can hand them others: a `MemoryStore`, a recording channel, a fixed clock.
Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path

from outreach.adapters.channels import Channel
from outreach.adapters.feeds import FetchPolicy, FetchState, fetch
from outreach.adapters.feeds.fetching import FetchResult
from outreach.adapters.store import SqlStore
from outreach.adapters.store.identity import open_lasting
from outreach.adapters.store.memory import MemoryStore
from outreach.clock import Clock, fixed_clock, system_clock
from outreach.core.config import Config
from outreach.logs import hide
from outreach.ports import Store
from outreach.services.channels import ChannelSet

Fetcher = Callable[[str, FetchState], FetchResult]  # a feed's url, what we had -> its answer

__all__ = [
    "Fetcher",
    "channels",
    "clock",
    "fetch_policy",
    "fetcher",
    "lasting_store",
    "memory_store",
    "reading_store",
    "schema",
]


def lasting_store(
    config: Config, root: Path, new_store: bool = False, create: bool = True
) -> Store | None:
    """The store of a command that sends or records: at this outreach's schema, the one this
    workspace has used (`adapters.store.identity`), made at first use; with `create=False`,
    None while there is neither a store nor a record of one."""
    return open_lasting(config, root, new_store, create)


def reading_store(
    config: Config, root: Path, create: bool = False, memory_ok: bool = False
) -> Store | None:
    """The store `outreach.yaml` names, for a command that reads it (None when there is none
    yet); with `memory_ok`, an in-memory SQLite store too (a dry run)."""
    return SqlStore.of(config, root, create=create, memory_ok=memory_ok)


def memory_store() -> Store:
    """A store in memory, pure Python: for tests and trying things; gone with the process."""
    return MemoryStore()


def schema(config: Config, root: Path, upgrade: bool = False) -> tuple[str | None, str] | None:
    """The store's schema revision and this outreach's, after `upgrade` (`outreach db`)."""
    return SqlStore.schema(config.store, root, upgrade, config.outside_workspace)


def channels(
    config: Config,
    root: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Channel] | None = None,
    logged: bool = False,
) -> ChannelSet:
    """The workspace's channels, each built on first use; for a process that logs (the
    daemon), their secrets are hidden from every line it logs from now on."""
    built = ChannelSet(config, root, environ, overrides)
    if logged:
        hide(built.redact)
    return built


def clock(moment: datetime | None = None) -> Clock:
    """The real clock, or one stopped at `moment` (`--now`)."""
    return system_clock if moment is None else fixed_clock(moment)


def fetch_policy(config: Config) -> FetchPolicy:
    network = config.network
    return FetchPolicy(
        total_timeout=network.timeout,
        read_timeout=min(15.0, network.timeout),
        max_bytes=int(network.max_feed_mb * 1024 * 1024),
        allow_private=network.allow_private,
        outside_workspace=tuple(config.outside_workspace),
    )


def fetcher(config: Config, root: Path) -> Fetcher:
    """How feeds are read: over the network as `network:` allows, or the workspace's files."""
    return partial(fetch, policy=fetch_policy(config), root=root)
