"""Short handles for outbox rows, as git abbreviates hashes: the shortest prefix, at least
`SHORTEST` characters, of the SHA-256 of the row's key (the webhook's `X-Outreach-Key`) that
no other row of the outbox shares. A handle is short, never broken across a line, and stays
valid as long as no new row shares it; commands take it wherever they take a key."""

from __future__ import annotations

import string
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from outreach.core.keys import opaque_id

SHORTEST = 7  # characters shown
LEAST = 4  # characters accepted


def digest(key: str) -> str:
    """What a row's handle is a prefix of: its key's opaque id, as recipients see it."""
    return opaque_id(key)


def handles(shown: Iterable[str], every: Iterable[str]) -> dict[str, str]:
    """For each key of `shown`, its handle among `every` key of the outbox."""
    shown = list(shown)
    ordered = sorted({digest(key) for key in (*every, *shown)})
    return {key: among(digest(key), ordered) for key in shown}


def among(mine: str, ordered: Sequence[str]) -> str:
    """The handle of the digest `mine` among the digests `ordered` (sorted)."""
    at = bisect_left(ordered, mine)
    return handle_of(mine, ordered[max(0, at - 1) : at + 2])


def handle_of(mine: str, neighbours: Iterable[str]) -> str:
    """The handle of the digest `mine`, given the digests next to it in sorted order (the
    ones that share the most of its start)."""
    shared = max((_common(mine, other) for other in neighbours if other != mine), default=0)
    return mine[: max(SHORTEST, shared + 1)]


def _common(a: str, b: str) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def looks_like_handle(text: str) -> bool:
    return len(text) >= LEAST and all(c in string.hexdigits for c in text)


@dataclass(frozen=True)
class Resolved:
    """What one key or handle a person typed names: a key, or why none."""

    given: str
    key: str | None = None
    candidates: tuple[str, ...] = ()  # for an ambiguous handle: the keys it could mean

    @property
    def problem(self) -> str | None:
        if self.key is not None:
            return None
        if self.candidates:
            return f"the handle {self.given} is ambiguous: it could be " + ", ".join(
                self.candidates
            ) + "; give more characters or the key"  # fmt: skip
        if looks_like_handle(self.given):
            return "no such key or handle in the outbox"
        return "no such key in the outbox"


def resolve(given: str, candidates: Mapping[str, str]) -> Resolved:
    """`given` (a key, or a handle) among `candidates`, keys of the outbox mapped to their
    digests (every key; or, from a store, those whose digest starts with `given`)."""
    if given in candidates:
        return Resolved(given, given)
    if not looks_like_handle(given):
        return Resolved(given)
    prefix = given.lower()
    matching = sorted(key for key, hashed in candidates.items() if hashed.startswith(prefix))
    if len(matching) == 1:
        return Resolved(given, matching[0])
    return Resolved(given, candidates=tuple(matching))
