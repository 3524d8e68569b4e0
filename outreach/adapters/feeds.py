"""News feeds: where they are (`feeds.yaml`), how they are fetched, and how they are read.

Feeds are outside data. feedparser is only ever given bytes (handed a URL it follows
redirects with no size cap; handed a path, or bytes that look like one, it opens local
files). Fetching is ours: timeouts, a size cap, a total time limit, redirects followed one hop
at a time, and no private or loopback addresses unless the workspace allows them. Network
trouble never raises: it comes back as a `FetchResult` with a one-line message.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import socket
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser  # type: ignore[import-untyped,unused-ignore]
import httpcore
import httpx
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from outreach import __version__
from outreach.adapters.sources.yamlfile import load_yaml_file
from outreach.core.diagnostics import validation_problems
from outreach.core.model import FeedEntry
from outreach.core.problems import Problem, problem, warning
from outreach.core.schema_types import Duration, Strict

DEFAULT_EVERY = timedelta(minutes=30)
USER_AGENT = f"outreach/{__version__} (feed reader)"
MAX_TEXT = 20_000  # characters kept of a title or summary
_MAX_HTML = 200_000  # characters of markup looked at to produce that text
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_TRACKING = frozenset({"fbclid", "gclid"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"
_ALLOW_HINT = "set network.allow_private: true in outreach.yaml to allow it"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- feeds.yaml ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedSource:
    url: str  # http(s) URL, or a file path relative to the workspace root
    language: str = "xx"
    every: timedelta = DEFAULT_EVERY
    line: int = 0  # where the entry stands in feeds.yaml, for messages


class _FeedModel(Strict):
    url: str = Field(min_length=1, max_length=2000)
    language: str = "xx"
    every: Duration = DEFAULT_EVERY

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if is_http_url(value):
            try:
                host = httpx.URL(value).host
            except httpx.InvalidURL as exc:
                raise ValueError(f"'{value}' is not a valid URL ({exc})") from None
            if not host:
                raise ValueError(f"'{value}' has no host name; write e.g. https://news.example/rss")
            return value
        root = (info.context or {}).get("root")
        if root is not None:
            resolve_feed_path(value, root)
        elif Path(value).is_absolute() or _escapes(value):
            raise ValueError(f"'{value}' is outside the workspace; write a path inside it")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not _LANGUAGE.match(value):
            raise ValueError(f"'{value}' is not a language code; write e.g. en, is, uk, or xx")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("poll at most once a minute; write e.g. 30m")
        return value


class _FeedsFile(Strict):
    feeds: list[_FeedModel]


def load_feed_sources(
    path: Path, shown_as: str, root: Path | None = None
) -> tuple[list[FeedSource], list[Problem]]:
    """Read feeds.yaml. Each bad entry is a located problem and is skipped. With `root` (the
    workspace folder), file paths are also checked against symlinks leading out of it."""
    document = load_yaml_file(path, shown_as)
    problems = list(document.problems)
    if document.data is None:
        return [], problems
    items = document.data.get("feeds") if isinstance(document.data, dict) else None
    if not isinstance(items, list):
        problems.append(problem(shown_as, 1, 1, "expected `feeds:` with a list of feeds"))
        return [], problems
    sources: dict[str, FeedSource] = {}
    for i, item in enumerate(items):
        try:
            model = _FeedModel.model_validate(item, context={"root": root})
        except ValidationError as exc:
            problems += validation_problems(exc, document.locate, _FeedsFile, ("feeds", i))
            continue
        where = document.locate(("feeds", i), False)
        if model.url in sources:
            first = sources[model.url].line
            message = f"feed '{model.url}' is listed twice (first at line {first}); skipped"
            problems.append(warning(where.path, where.line, where.col, message))
            continue
        sources[model.url] = FeedSource(model.url, model.language, model.every, where.line or 0)
    return list(sources.values()), problems


def is_http_url(ref: str) -> bool:
    return ref.lower().startswith(("http://", "https://"))


def resolve_feed_path(ref: str, root: Path) -> Path:
    """The file a non-URL feed names, which must stay inside the workspace (after symlinks)."""
    if _SCHEME.match(ref):
        raise ValueError(f"'{ref}' is neither an http(s) URL nor a file path")
    base = root.resolve()
    target = (base / ref).resolve()  # an absolute `ref` replaces `base`
    if not target.is_relative_to(base):
        raise ValueError(f"'{ref}' is outside the workspace {base}; put the feed file inside it")
    return target


def _escapes(ref: str) -> bool:
    parts = Path(os.path.normpath(ref)).parts
    return bool(parts) and parts[0] == ".."


# --- fetching ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class FetchState:
    """What the last successful fetch said about the content, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


FetchStatus = Literal["fetched", "not_modified", "error"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: FetchStatus
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    error: str | None = None  # one line, for the user: what went wrong and what to do


class Refused(Exception):
    """An address outreach will not connect to; the message says why."""


class NoHost(Exception):
    """A host name that does not resolve."""


def _error(message: str) -> FetchResult:
    return FetchResult("error", error=" ".join(message.split()))


def fetch(
    source_url: str,
    state: FetchState,
    policy: FetchPolicy,
    root: Path,
    transport: httpx.BaseTransport | None = None,
) -> FetchResult:
    """Fetch one feed (an http(s) URL, or a file inside the workspace `root`). Never raises for
    network or HTTP trouble. `transport` replaces the network, in tests; addresses are still
    checked before every hop."""
    if not is_http_url(source_url):
        return _fetch_file(source_url, state, policy, root)
    deadline = time.monotonic() + policy.total_timeout
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    with httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would bypass the address check
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        transport=transport or _guarded_transport(policy.allow_private, deadline),
    ) as client:
        return _follow(client, source_url, state, policy, deadline)


def _follow(
    client: httpx.Client, url: str, state: FetchState, policy: FetchPolicy, deadline: float
) -> FetchResult:
    shown_first = _shown(url)
    for _ in range(policy.max_redirects + 1):
        try:
            check_url(url, policy.allow_private)
            with client.stream("GET", url, headers=_conditional(state)) as response:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or location is None:
                    return _read(response, url, state, policy, deadline)
                url = str(response.url.join(location))
        except Refused as exc:
            return _error(f"refused {_shown(url)}: {exc}")
        except NoHost as exc:
            return _error(f"cannot fetch {_shown(url)}: {exc}")
        except httpx.TimeoutException:
            return _error(_timeout_message(url, policy, deadline))
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            return _error(f"cannot fetch {_shown(url)}: {_reason(exc)}; check the address")
    return _error(
        f"{shown_first} redirected more than {policy.max_redirects} times; "
        "put the final address in feeds.yaml"
    )


def _read(
    response: httpx.Response, url: str, state: FetchState, policy: FetchPolicy, deadline: float
) -> FetchResult:
    shown, code = _shown(url), response.status_code
    if code == 304:
        return FetchResult(
            "not_modified",
            etag=response.headers.get("etag", state.etag),
            last_modified=response.headers.get("last-modified", state.last_modified),
            final_url=url,
        )
    if not 200 <= code < 300:
        return _error(f"{shown} answered HTTP {code} {response.reason_phrase}; {_advice(code)}")
    too_large = f"{shown} is larger than {_size(policy.max_bytes)}; stopped (is it a feed?)"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        return _error(too_large)
    body = bytearray()
    # Decoded bytes are counted, so a gzip bomb stops at the cap too (give or take a chunk).
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > policy.max_bytes:
            return _error(too_large)
        if time.monotonic() > deadline:  # a server that trickles bytes forever
            return _error(_timeout_message(url, policy, deadline))
    return FetchResult(
        "fetched",
        content=bytes(body),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        final_url=url,
    )


def _conditional(state: FetchState) -> dict[str, str]:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _advice(code: int) -> str:
    if code in (401, 403):
        return "the feed is not public; check the address or remove it from feeds.yaml"
    if code in (404, 410):
        return "check the feed's address in feeds.yaml"
    if code == 429 or code >= 500:
        return "the server is struggling; outreach will try again later"
    return "check the feed's address in feeds.yaml"


def _timeout_message(url: str, policy: FetchPolicy, deadline: float) -> str:
    if time.monotonic() >= deadline:
        limit = f"{policy.total_timeout:g} s in all"
        return f"{_shown(url)} took more than {limit}; stopped (the server is too slow)"
    return f"{_shown(url)} did not answer in time; check the address or try again later"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def _shown(url: str) -> str:
    """The URL as put in messages: without a password, on one line, not endless."""
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:
        pass
    return "".join(url.split())[:300]


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


# --- addresses -----------------------------------------------------------------------------


def check_url(url: str, allow_private: bool) -> None:
    """Raise `Refused` unless `url` is http(s) and its host resolves to public addresses only."""
    parts = httpx.URL(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"only http and https addresses are fetched, not '{parts.scheme}:'")
    host = parts.raw_host.decode("ascii")  # IDNA-encoded, as the connection will use it
    if not host:
        raise Refused("the address has no host")
    if not allow_private:
        _check_addresses(_resolve(host, parts.port or _DEFAULT_PORTS[parts.scheme]))


def _resolve(host: str, port: int) -> list[IPAddress]:
    # getaddrinfo has no timeout of its own: the system resolver's (a few seconds) applies.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise NoHost(f"cannot find the host {host} ({_reason(exc)}); check the address") from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


def _check_addresses(addresses: Iterable[IPAddress]) -> None:
    for address in addresses:
        kind = address_kind(address)
        if kind:
            raise Refused(f"{address} is {kind}; {_ALLOW_HINT}")


def address_kind(address: IPAddress) -> str | None:
    """Why `address` is not a public one ("a loopback address"...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = address_kind(embedded)
            return f"{kind} in IPv6 form" if kind else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    )
    return next((f"{name} address" for name, hit in checks if hit), None)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _guarded_transport(allow_private: bool, deadline: float) -> httpx.HTTPTransport:
    """An ordinary transport whose sockets connect only to the addresses just checked (no DNS
    rebinding between check and connect) and give up at `deadline` (a server trickling
    headers forever). TLS still verifies, and sends SNI for, the URL's host name."""
    transport = httpx.HTTPTransport(retries=0, trust_env=False)
    # httpx has no public hook for the network backend; its pool has. Tests cover this.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=_GuardedBackend(allow_private, deadline),
    )
    return transport


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow_private: bool, deadline: float) -> None:
        self.allow_private = allow_private
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        if not self.allow_private:
            _check_addresses(addresses)
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = super().connect_tcp(
                    str(address), port, _bounded(timeout, self.deadline), local_address,
                    socket_options,
                )  # fmt: skip
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise error


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner = inner
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _bounded(timeout, self.deadline))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _bounded(timeout, self.deadline))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, self.deadline)
        return _DeadlineStream(
            self.inner.start_tls(ssl_context, server_hostname, bounded), self.deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


def _bounded(timeout: float | None, deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("the total time allowed is used up")
    return remaining if timeout is None else min(timeout, remaining)


# --- files ---------------------------------------------------------------------------------


def _fetch_file(ref: str, state: FetchState, policy: FetchPolicy, root: Path) -> FetchResult:
    try:
        path = resolve_feed_path(ref, root)
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would never end
            return _error(f"feed file {ref} is not a regular file; point feeds.yaml at a file")
        if info.st_size > policy.max_bytes:
            return _error(f"feed file {ref} is larger than {_size(policy.max_bytes)}")
        modified = datetime.fromtimestamp(info.st_mtime_ns / 1e9, UTC).isoformat()
        if state.last_modified == modified:
            return FetchResult("not_modified", last_modified=modified, final_url=ref)
        with path.open("rb") as handle:
            content = handle.read(policy.max_bytes + 1)
    except ValueError as exc:
        return _error(f"refused {ref}: {exc}")
    except OSError as exc:
        return _error(f"cannot read feed file {ref}: {exc.strerror or exc}; check feeds.yaml")
    if len(content) > policy.max_bytes:
        return _error(f"feed file {ref} is larger than {_size(policy.max_bytes)}")
    return FetchResult("fetched", content=content, last_modified=modified, final_url=ref)


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
    base = source if is_http_url(source) else ""
    entries = [_entry(raw, base) for raw in result.entries]
    problem_text = None
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        reason = _reason(exc) if isinstance(exc, BaseException) else "unknown problem"
        problem_text = f"{_shown(source)} is not a well-formed feed ({reason}); "
        problem_text += f"read {len(entries)} entries from it anyway"
    return ParsedFeed(entries, problem_text)


def _entry(raw: Any, base: str) -> FeedEntry:
    title = _text(raw.get("title_detail") or raw.get("title"))
    summary = _text(raw.get("summary_detail") or _first(raw.get("content")))
    link = _safe_link(urljoin(base, str(raw.get("link") or "")))
    entry_id = " ".join(str(raw.get("id") or "").split())
    if not entry_id or len(entry_id) > 500:
        entry_id = link or "sha256:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return FeedEntry(entry_id, title, link, _published(raw), summary)


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
    parsed = raw.get("published_parsed") or raw.get("updated_parsed")
    try:
        if not parsed:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


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
