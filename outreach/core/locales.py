"""Locale tags, as written by users (BCP 47: `en-GB`, `is`) and read by babel."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError

UNKNOWN = "is not a known locale; use a BCP 47 tag such as en-GB or is"


@lru_cache(maxsize=512)
def babel_locale(tag: str) -> Locale | None:
    """The locale a tag names, or None for a tag babel does not know."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def known_locale(tag: str) -> str:
    """The tag, when babel knows its locale; else ValueError saying what to write."""
    if babel_locale(tag) is None:
        raise ValueError(f"'{tag}' {UNKNOWN}")
    return tag
