"""How feed trouble is put into words: one line, no secrets, not endless; and the name a
feed goes by wherever it is shown or stored."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

MAX_SHOWN = 300
MASK = "***"
# Query parameters whose values are masked: any name holding one of these words (api_key,
# access_token, X-Amz-Signature, client_secret, ...); a harmless one masked costs nothing.
_SECRET_NAME = re.compile(
    r"token|secret|key|pass|pwd|sig|auth|credential|session|jwt|hmac|bearer|code|otp",
    re.IGNORECASE,
)


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def safe_url(url: str) -> str:
    """The URL as put in messages: without `user:password@`, the values of secret-looking
    query parameters masked, on one line, not endless."""
    try:
        parts = urlsplit(url)
        hidden = parts._replace(netloc=parts.netloc.rpartition("@")[2], query=_masked(parts.query))
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
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and _SECRET_NAME.search(name):
            value = MASK
        pairs.append(f"{name}{equals}{value}")
    return "&".join(pairs)
