"""Counts in messages: `1 error`, `2 errors`, `1 news mention`; `: 2 sent, 1 dead`."""

from __future__ import annotations

from collections.abc import Mapping


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for one: counted(1, "error") == "1 error"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def signed(n: int, noun: str, plural: str | None = None) -> str:
    """A count that moves something, with its sign: signed(-1, "day") == "-1 day"."""
    return ("-" if n < 0 else "+") + counted(abs(n), noun, plural)


def tallied(counts: Mapping[str, int]) -> str:
    """`: 2 dead, 3 sent` — each status that occurs, by name; '' when none does."""
    parts = [f"{n:,} {status}" for status, n in sorted(counts.items()) if n]
    return (": " + ", ".join(parts)) if parts else ""
