"""How feed trouble is put into words: one line, no secrets, not endless."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def safe_url(url: str) -> str:
    """The URL as put in messages: without a password, on one line, not endless."""
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:
        pass
    return "".join(url.split())[:300]
