"""Counts in messages: `1 error`, `2 errors`, `1 news mention`."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for one: counted(1, "error") == "1 error"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
