"""News: scan the feeds, find client companies in new stories, and remember both.

`scan_feeds` fetches every feed (conditional GET; never anything the network policy
forbids), stores the stories it has not seen (the same story from two feeds once), runs the
mention finder over them and stores what it found. `mentions_for_planning` gives the plan
what the store knows plus what the workspace's own feed files say, without writing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import feedparser
import spacy
from spacy.language import Language
from sqlalchemy.exc import OperationalError

from outreach.adapters.feeds import (
    FeedSource,
    FetchState,
    is_http_url,
    load_feed_sources,
    normalise_link,
    parse_feed,
)
from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.mentions import MentionFinder
from outreach.adapters.sources.files import Refused, read_bytes
from outreach.bootstrap import Fetcher, fetch_policy, fetcher, lasting_store, reading_store
from outreach.core.model import FeedEntry, Mention
from outreach.core.problems import Problem
from outreach.errors import UserError
from outreach.ports import Store
from outreach.services.workspace import Workspace, data_file, shown


@dataclass
class FeedReport:
    url: str  # as shown and stored: `feed_key`, without the secrets of the feed's url
    status: str  # fetched | not_modified | error
    entries: int = 0  # entries in the feed
    new: int = 0  # not seen before
    mentions: list[Mention] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None  # malformed, but read


def feed_sources(workspace: Workspace) -> tuple[list[FeedSource], list[Problem]]:
    """The feeds feeds.yaml lists; none when it is missing or refused (`validate` says why)."""
    relative, within = workspace.config.data.feeds, workspace.boundary
    if not relative:
        return [], []
    path = data_file(within, workspace.root, relative, "feeds", [], required=False)
    if path is None:
        return [], []
    return load_feed_sources(path, shown(workspace.root / relative), within)


def finder_for(workspace: Workspace) -> MentionFinder:
    """One finder per workspace: building it (patterns for every name) is the costly part."""
    if workspace.finder is None:
        workspace.finder = MentionFinder(
            workspace.data.companies.values(), entities=entity_pipeline(workspace)
        )
    return workspace.finder


def entity_pipeline(workspace: Workspace) -> Language | None:
    """The configured trained pipeline, or None: when it is not installed the matcher works
    without it (`outreach validate` warns)."""
    name = workspace.config.mentions.ner_model
    if not name:
        return None
    path = workspace.root / name
    try:  # a folder in the workspace (never one a link leads out to), else a package
        return spacy.load(workspace.boundary.confine(path) if path.exists() else name)
    except (OSError, ImportError, ValueError):  # Refused is a ValueError
        return None


def find_mentions(
    finder: MentionFinder, entries: Iterable[FeedEntry], language: str, moves: bool = False
) -> Iterator[Mention]:
    for entry in entries:
        for found in finder.find(entry.summary, language, entry.title, entry.link):
            yield Mention(found.company_id, entry, found.sentence, found.confidence, moves=moves)


def scan_feeds(
    workspace: Workspace,
    now: datetime,
    dry_run: bool = False,
    on_feed: Callable[[FeedSource, FeedReport], None] | None = None,
    urls: Collection[str] | None = None,
) -> list[FeedReport]:
    """Scan the workspace's feeds (or only those at `urls`)."""
    sources, _ = feed_sources(workspace)
    sources = [s for s in sources if urls is None or s.url in urls]
    config, root = workspace.config, workspace.root
    store = (
        reading_store(config, root, create=False, memory_ok=True)
        if dry_run
        else lasting_store(config, root)
    )
    finder, read = finder_for(workspace), fetcher(config, root)
    reports = []
    seen: set[str] = set()  # a dry run stores nothing, so it remembers here what it has read
    for source in sources:
        try:
            report = _scan_one(source, store, finder, read, now, dry_run, seen)
        except OperationalError as exc:  # the store is busy or broken: this feed waits
            report = FeedReport(
                feed_key(source.url),
                "error",
                error=f"the store is not available "
                f"({' '.join(str(exc.orig).split())}); try again later",
            )
        reports.append(report)
        if on_feed is not None:
            on_feed(source, report)
    return reports


def _scan_one(
    source: FeedSource,
    store: Store | None,
    finder: MentionFinder,
    read: Fetcher,
    now: datetime,
    dry_run: bool,
    seen: set[str],
) -> FeedReport:
    state = None
    if store is not None:
        with store.view() as unit:
            state = unit.feed_state(source.url)
    conditional = FetchState(state.etag, state.last_modified) if state else FetchState()
    result = read(source.url, conditional)
    report = FeedReport(feed_key(source.url), result.status, error=result.error)
    if result.status != "fetched" or result.content is None:
        if store is not None and not dry_run:
            with store.unit() as unit:
                unit.record_fetch(source.url, now, result.status, result.error)
        return report
    parsed = parse_feed(result.content, result.final_url or source.url, source.language)
    report.entries, report.warning = len(parsed.entries), parsed.warning
    keyed = [(entry, normalise_link(entry.link)) for entry in parsed.entries]
    fresh = _unseen(store, keyed, seen)
    # Matching is the slow part: done before the transaction, which then only writes.
    mentions = list(find_mentions(finder, fresh, source.language))
    if store is not None and not dry_run:
        fresh_ids = {entry.id for entry in fresh}
        with store.unit() as unit:
            fresh = unit.add_entries(  # re-checked: another scan may have stored some since
                [(e, k) for e, k in keyed if e.id in fresh_ids],
                source.url,
                source.language,
                now,
            )
            stored = {entry.id for entry in fresh}
            mentions = [m for m in mentions if m.entry.id in stored]
            unit.add_mentions(mentions, now)
            unit.record_fetch(
                source.url,
                now,
                result.status,
                report.warning,
                result.etag,
                result.last_modified,
                len(fresh),
            )
    report.new, report.mentions = len(fresh), mentions
    return report


def _unseen(
    store: Store | None, keyed: list[tuple[FeedEntry, str]], seen: set[str]
) -> list[FeedEntry]:
    """Entries that would be new: not in the store, nor already read (by id or link)."""
    if store is not None:
        with store.view() as unit:
            seen |= unit.known_entries([e.id for e, _ in keyed], [k for _, k in keyed])
    fresh = []
    for entry, link_key in keyed:
        if entry.id in seen or (link_key and link_key in seen):
            continue
        seen.update({entry.id, link_key} - {""})
        fresh.append(entry)
    return fresh


def mentions_for_planning(workspace: Workspace) -> list[Mention]:
    """Stored mentions, plus those in the workspace's own feed files (read now, not stored:
    a dry run writes nothing). With `data_dated_for` the feed files are demo data whose
    dates move with the clock: their stories are read afresh, in place of the copies a scan
    stored, and marked to move."""
    store = reading_store(workspace.config, workspace.root, create=False, memory_ok=True)
    found: list[Mention] = []
    if store is not None:
        with store.view() as unit:
            found = unit.mentions()
    sources, _ = feed_sources(workspace)
    local = [s for s in sources if not is_http_url(s.url)]
    if not local:
        return found
    moving = workspace.config.data_dated_for is not None
    finder = finder_for(workspace)
    read_file = fetcher(workspace.config, workspace.root)
    seen: set[str] = set()
    read: list[Mention] = []
    for source in local:
        # Through `fetch`, like a scan: the same size cap and regular-file check.
        result = read_file(source.url, FetchState())
        if result.content is None:
            continue  # `feeds scan` reports it; a preview plans without it
        parsed = parse_feed(result.content, source.url, source.language)
        keyed = [(entry, normalise_link(entry.link)) for entry in parsed.entries]
        fresh = _unseen(None if moving else store, keyed, seen)
        read.extend(find_mentions(finder, fresh, source.language, moves=moving))
    if moving:  # `seen` holds every id and link read from the files
        found = [m for m in found if not {m.entry.id, normalise_link(m.entry.link)} & seen]
    return found + read


def mentions_in_file(
    workspace: Workspace, path: Path, is_feed: bool, language: str | None
) -> list[Mention]:
    """`outreach mentions`: at most one mention per (company, entry), most confident first."""
    finder = finder_for(workspace)
    default = (language or workspace.config.locale).split("-")[0]
    limit = fetch_policy(workspace.config).max_bytes
    try:  # a file named on the command line: any folder, but never a FIFO, never unbounded
        content = read_bytes(path.resolve(), limit, "raise network.max_feed_mb in outreach.yaml")
    except Refused as exc:
        raise UserError(f"{path}: {exc}") from None
    if is_feed:
        parsed = parse_feed(content, str(path), default)
        keyed = [(entry, normalise_link(entry.link)) for entry in parsed.entries]
        entries = _unseen(None, keyed, set())  # a story twice in the file is one story
        return list(find_mentions(finder, entries, language or _feed_language(content) or default))
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    entry = FeedEntry(id=path.name, title="", link="", published=None, summary=text)
    return list(find_mentions(finder, [entry], default))


def _feed_language(content: bytes) -> str | None:
    declared = feedparser.parse(io.BytesIO(content)).feed.get("language")
    return str(declared).split("-")[0].lower() if declared else None
