"""Planning shards: the contacts split into `count` partitions by a stable hash of their id,
so that daemons sharing one store each plan their own part. Pure: which shard a contact is
in, how many shards each live daemon should hold, and which leases a daemon takes or gives
up to get there (the store keeps the leases: `outreach.adapters.store.leases`).

The hash is BLAKE2b of the id's UTF-8 bytes: the same on every machine, Python version and
run (Python's own `hash` of a str is salted per process).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

DEFAULT_SHARDS = 60  # splits evenly between 1, 2, 3, 4, 5 and 6 daemons
MOST_SHARDS = 1024


def shard_of(contact_id: str, count: int) -> int:
    data = contact_id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % count


@dataclass(frozen=True)
class Shards:
    """The contacts of the shards a daemon holds: a container of contact ids, for
    `Engine.plan(contacts=...)`."""

    count: int
    held: frozenset[int]

    def __contains__(self, contact_id: object) -> bool:
        return isinstance(contact_id, str) and shard_of(contact_id, self.count) in self.held

    @property
    def everyone(self) -> bool:
        return self.held >= frozenset(range(self.count))


def fair_shares(count: int, daemons: Iterable[str]) -> dict[str, int]:
    """How many shards each daemon should hold: as even as can be; the first by name hold
    one more when they do not split evenly (every daemon computes the same)."""
    order = sorted(set(daemons))
    if not order:
        return {}
    base, extra = divmod(count, len(order))
    return {name: base + (1 if i < extra else 0) for i, name in enumerate(order)}


@dataclass(frozen=True)
class Lease:
    holder: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Moves:
    take: tuple[int, ...]
    give_up: tuple[int, ...]


def moves(
    count: int, leases: Mapping[int, Lease], me: str, live: Collection[str], now: datetime
) -> Moves:
    """What `me` does to hold its fair share among the `live` daemons: give up its highest
    shards above it, or take free ones up to it — a shard nobody holds, or whose lease
    expired, or whose holder is not live (it died). A shard another live daemon holds is
    never taken: the one that holds too many gives it up, and it is taken at a next turn."""
    target = fair_shares(count, {*live, me})[me]
    mine = sorted(s for s, lease in leases.items() if s < count and lease.holder == me)
    if len(mine) >= target:
        return Moves((), tuple(mine[target:]))
    free = [s for s in range(count) if _free(leases.get(s), me, live, now)]
    return Moves(tuple(free[: target - len(mine)]), ())


def _free(lease: Lease | None, me: str, live: Collection[str], now: datetime) -> bool:
    if lease is None or lease.holder is None:
        return True
    if lease.holder == me:
        return False
    expired = lease.expires_at is None or lease.expires_at <= now
    return expired or lease.holder not in live


def spans(shards: Iterable[int]) -> str:
    """Shard numbers as short ranges: `0-19, 40, 42-43`."""
    parts: list[str] = []
    ordered = sorted(set(shards))
    start = previous = None
    for shard in [*ordered, None]:
        if shard is not None and previous is not None and shard == previous + 1:
            previous = shard
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = shard
    return ", ".join(parts)
