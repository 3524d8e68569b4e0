"""News feeds: where they are (`feeds.yaml`), how they are fetched, and how they are read.

Feeds are outside data. feedparser is only ever given bytes (handed a URL it follows
redirects with no size cap; handed a path, or bytes that look like one, it opens local
files). Fetching is ours: timeouts, a size cap, a total time limit, redirects followed one hop
at a time, and no private or loopback addresses unless the workspace allows them. Network
trouble never raises: it comes back as a `FetchResult` with a one-line message.
"""

from outreach.adapters.feeds.addresses import NoHost, Refused, address_kind, check_url
from outreach.adapters.feeds.fetching import FetchPolicy, FetchResult, FetchState, fetch
from outreach.adapters.feeds.parsing import ParsedFeed, html_to_text, normalise_link, parse_feed
from outreach.adapters.feeds.sources import (
    FeedSource,
    is_http_url,
    load_feed_sources,
    resolve_feed_path,
)

__all__ = [
    "FeedSource",
    "FetchPolicy",
    "FetchResult",
    "FetchState",
    "NoHost",
    "ParsedFeed",
    "Refused",
    "address_kind",
    "check_url",
    "fetch",
    "html_to_text",
    "is_http_url",
    "load_feed_sources",
    "normalise_link",
    "parse_feed",
    "resolve_feed_path",
]
