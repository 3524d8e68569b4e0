"""How feed trouble is put into words: one line, no secrets, not endless; and the name a
feed goes by wherever it is shown or stored."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote, urlsplit, urlunsplit

MAX_SHOWN = 300
MASK = "***"
# Query parameters shown as written: names that say what a feed is (its topic, language,
# page); every other value is masked — `t`, `k`, `hash`, a `next=` that carries a whole URL
# with its token, a name written `%74oken` — a harmless one masked costs nothing.
_SHOWN = frozenset(
    "category cat categories lang language locale hl gl ceid edition region country format "
    "output type feed rss page p_page q query search tag tags topic topics section sort order "
    "limit size count per_page id v version".split()
)
# A path segment that looks like a key (long, letters and digits mixed): masked too.
_KEYLIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-]{24,}$")


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def safe_url(url: str) -> str:
    """The URL as put in messages: without `user:password@`, query values masked but for
    names known harmless, key-like path segments masked, on one line, not endless."""
    try:
        parts = urlsplit(url)
        hidden = parts._replace(
            netloc=parts.netloc.rpartition("@")[2],
            path="/".join(MASK if _KEYLIKE.match(part) else part for part in parts.path.split("/")),
            query=_masked(parts.query),
            fragment=_masked(parts.fragment) if "=" in parts.fragment else parts.fragment,
        )
        if hidden != parts:  # rebuilt only then: urlunsplit would rewrite some (file:///x)
            url = urlunsplit(hidden)
    except ValueError:
        pass
    return "".join(url.split())[:MAX_SHOWN]


def feed_key(url: str) -> str:
    """How the store (and the daemon's job names, logs and metrics) know a feed: its safe
    URL, and when that hides anything, a short hash of the full one too, so that two feeds
    differing only in their token stay apart."""
    shown = safe_url(url)
    if shown == url:
        return url
    return f"{shown} #{hashlib.sha256(url.encode('utf-8')).hexdigest()[:12]}"


def _masked(query: str) -> str:
    pairs = []
    for pair in re.split(r"([&;])", query):  # the separators kept, in their places
        name, equals, value = pair.partition("=")
        if equals and value and unquote(name).strip().lower() not in _SHOWN:
            value = MASK
        pairs.append(f"{name}{equals}{value}")
    return "".join(pairs)
