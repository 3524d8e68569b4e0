"""Fetching a feed safely: timeouts, a size cap, conditional GET, redirects re-checked hop
by hop, workspace files read with the same caps."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from outreach import __version__
from outreach.adapters.feeds.addresses import NoHost, Refused, check_url, guarded_transport
from outreach.adapters.feeds.messages import error_text, safe_url
from outreach.adapters.feeds.sources import is_http_url, resolve_feed_path
from outreach.adapters.sources.files import Boundary, open_regular
from outreach.adapters.sources.files import Refused as FileRefused
from outreach.core.wording import counted

USER_AGENT = f"outreach/{__version__} (feed reader)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"


# --- fetching ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False
    outside_workspace: tuple[str, ...] = ()  # folders outside the workspace feed files may be in


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
        transport=transport or guarded_transport(policy.allow_private, deadline),
    ) as client:
        return _follow(client, source_url, state, policy, deadline)


def _follow(
    client: httpx.Client, url: str, state: FetchState, policy: FetchPolicy, deadline: float
) -> FetchResult:
    shown_first = safe_url(url)
    for _ in range(policy.max_redirects + 1):
        try:
            check_url(url, policy.allow_private)
            with client.stream("GET", url, headers=_conditional(state)) as response:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or location is None:
                    return _read(response, url, state, policy, deadline)
                url = str(response.url.join(location))
        except Refused as exc:
            return _error(f"refused {safe_url(url)}: {exc}")
        except NoHost as exc:
            return _error(f"cannot fetch {safe_url(url)}: {exc}")
        except httpx.TimeoutException:
            return _error(_timeout_message(url, policy, deadline))
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            return _error(f"cannot fetch {safe_url(url)}: {error_text(exc)}; check the address")
    return _error(
        f"{shown_first} redirected more than {counted(policy.max_redirects, 'time')}; "
        "put the final address in feeds.yaml"
    )


def _read(
    response: httpx.Response, url: str, state: FetchState, policy: FetchPolicy, deadline: float
) -> FetchResult:
    shown, code = safe_url(url), response.status_code
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
        return f"{safe_url(url)} took more than {limit}; stopped (the server is too slow)"
    return f"{safe_url(url)} did not answer in time; check the address or try again later"


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


# --- files ---------------------------------------------------------------------------------


def _fetch_file(ref: str, state: FetchState, policy: FetchPolicy, root: Path) -> FetchResult:
    """A feed file inside the workspace (or a folder it allows), checked on the open file:
    regular (a FIFO or a device would never end), within the size cap."""
    advice = "raise network.max_feed_mb in outreach.yaml if it is the right file"
    try:
        path = resolve_feed_path(ref, Boundary.of(root, policy.outside_workspace))
        with open_regular(path, policy.max_bytes, advice) as opened:
            modified = datetime.fromtimestamp(opened.info.st_mtime_ns / 1e9, UTC).isoformat()
            if state.last_modified == modified:
                return FetchResult("not_modified", last_modified=modified, final_url=ref)
            content = opened.stream.read()
    except FileRefused as exc:
        return _error(f"feed file {ref}: {exc}")
    except ValueError as exc:
        return _error(f"refused {ref}: {exc}")
    except OSError as exc:
        return _error(f"cannot read feed file {ref}: {exc.strerror or exc}; check feeds.yaml")
    return FetchResult("fetched", content=content, last_modified=modified, final_url=ref)
