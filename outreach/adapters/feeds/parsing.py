"""Feed bytes to entries with plain-text titles and summaries, and one link per story."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser  # type: ignore[import-untyped,unused-ignore]

from outreach.adapters.feeds.addresses import _DEFAULT_PORTS
from outreach.adapters.feeds.messages import error_text, safe_url
from outreach.adapters.feeds.sources import is_http_url
from outreach.core.keys import MAX_ENTRY_ID
from outreach.core.model import FeedEntry
from outreach.core.timing import EARLIEST_DATE, check_date
from outreach.core.wording import counted

MAX_TEXT = 20_000  # characters kept of a title or summary
_MAX_HTML = 200_000  # characters of markup looked at to produce that text
_TRACKING = frozenset({"fbclid", "gclid"})


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    entries: list[FeedEntry]
    warning: str | None = None  # the feed is malformed; what could be read is in `entries`


def parse_feed(content: bytes, source: str, language: str) -> ParsedFeed:
    """Read a feed's bytes into entries. `source` (its URL or path) names it in the warning
    and resolves relative links; `language` is the feed's, from feeds.yaml (FeedEntry has no
    field for it yet)."""
    # A stream, never bytes or str: feedparser would open those as a path or a URL.
    result = feedparser.parse(
        io.BytesIO(content),
        sanitize_html=True,  # drops <script> and <style> with their text, before we strip tags
        resolve_relative_uris=False,  # only the markup would gain; we keep plain text
    )
    base = _base(source)
    entries = [_entry(raw, base) for raw in result.entries]
    problem_text = None
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        reason = error_text(exc) if isinstance(exc, BaseException) else "unknown problem"
        problem_text = f"{safe_url(source)} is not a well-formed feed ({reason}); "
        problem_text += f"read {counted(len(entries), 'entry', 'entries')} from it anyway"
    return ParsedFeed(entries, problem_text)


def _entry(raw: Any, base: str) -> FeedEntry:
    title = _text(raw.get("title_detail") or raw.get("title"))
    summary = _text(raw.get("summary_detail") or _first(raw.get("content")))
    written = str(raw.get("link") or "").strip()
    link = _safe_link(urljoin(base, written)) if written else ""
    entry_id = " ".join(str(raw.get("id") or "").split())
    if not entry_id or len(entry_id) > MAX_ENTRY_ID:
        entry_id = link if 0 < len(link) <= MAX_ENTRY_ID else _digest_id(link, title, summary)
    return FeedEntry(entry_id, title, link, _published(raw), summary)


def _digest_id(link: str, title: str, summary: str) -> str:
    """An id for an entry without a usable one: its link, or its text when it has none."""
    named = link or f"{title}\n{summary}"
    return "sha256:" + hashlib.sha256(named.encode()).hexdigest()


def _base(source: str) -> str:
    """What relative links resolve against: the feed's address without its user, query or
    fragment (a feed's url may carry a token; a story's link never does)."""
    if not is_http_url(source):
        return ""
    try:
        parts = urlsplit(source)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


def _text(detail: Any) -> str:
    """Plain text from a feedparser value or detail dict (HTML tags stripped)."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        value, kind = detail, "text/plain"
    else:
        value, kind = str(detail.get("value") or ""), str(detail.get("type") or "")
    value = value[:_MAX_HTML]
    if "html" in kind:
        value = html_to_text(value)
    return " ".join(value.split())[:MAX_TEXT]


def _safe_link(value: str) -> str:
    """The normalised link, kept only when it is http(s): a `javascript:` one must never
    reach a template."""
    link = normalise_link(value)
    return link if is_http_url(link) else ""


def _published(raw: Any) -> datetime | None:
    """The entry's date; None (undated: it counts from when it is first seen) when there is
    none, or one in a future no story has (the year 9999); a date before any story (the
    year 1) is the earliest there is: old news, never fresh."""
    parsed = raw.get("published_parsed") or raw.get("updated_parsed")
    try:
        if not parsed:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.date() < EARLIEST_DATE:
        return datetime.combine(EARLIEST_DATE, time(), UTC)
    try:
        check_date(moment.date())
    except ValueError:
        return None
    return moment


_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
     "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
     "p", "pre", "section", "table", "td", "th", "tr", "ul"}
)  # fmt: skip
_HIDDEN = frozenset({"script", "style", "template", "noscript"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment, entities decoded, whitespace collapsed."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


def normalise_link(url: str) -> str:
    """One spelling per story: lower-case scheme and host, no default port, fragment,
    tracking parameters (utm_*, fbclid, gclid) or trailing slash."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host += f":{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _tracking(p))
    return urlunsplit((scheme, host, parts.path.rstrip("/"), query, ""))


def _tracking(pair: str) -> bool:
    key = pair.partition("=")[0].lower()
    return key.startswith("utm_") or key in _TRACKING
