"""Planning shards: a stable hash, fair shares, and the moves a daemon makes to hold its own."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from outreach.core.shards import Lease, Shards, fair_shares, moves, shard_of, spans

NOW = datetime(2026, 6, 10, 10, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


def test_a_contact_is_in_the_same_shard_on_every_run_and_machine() -> None:
    # blake2b of the bytes: Python's own str hash is salted per process, this one must not be.
    for contact in ("c-1", "c-2", "Þóra", ""):
        digest = hashlib.blake2b(contact.encode(), digest_size=8).digest()
        assert shard_of(contact, 60) == int.from_bytes(digest, "big") % 60
    assert shard_of("\udcff odd", 7) in range(7)  # a lone surrogate from a badly read file


def test_contacts_spread_evenly_over_the_shards() -> None:
    counts = Counter(shard_of(f"c-{i}", 60) for i in range(60_000))
    assert len(counts) == 60 and min(counts.values()) > 850 and max(counts.values()) < 1150


@given(st.integers(1, 200), st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=9))
def test_fair_shares_cover_every_shard_and_differ_by_one_at_most(
    count: int, daemons: set[str]
) -> None:
    shares = fair_shares(count, daemons)
    assert sum(shares.values()) == count and set(shares) == daemons
    assert max(shares.values()) - min(shares.values()) <= 1


def test_shards_contain_the_contacts_of_the_shards_held() -> None:
    held = Shards(4, frozenset({shard_of("c-1", 4)}))
    assert "c-1" in held and 17 not in held
    assert not held.everyone and Shards(4, frozenset(range(4))).everyone
    split = [Shards(4, frozenset({n})) for n in range(4)]
    assert all(sum(f"c-{i}" in part for part in split) == 1 for i in range(100))


def test_a_lone_daemon_takes_every_shard() -> None:
    assert moves(6, {}, "a", {"a"}, NOW).take == tuple(range(6))


def test_a_daemon_above_its_share_gives_up_its_highest_shards_and_takes_none() -> None:
    leases = {s: Lease("a", LATER) for s in range(6)}
    chosen = moves(6, leases, "a", {"a", "b", "c"}, NOW)
    assert chosen.give_up == (2, 3, 4, 5) and chosen.take == ()


def test_a_live_daemons_shard_is_never_taken_a_dead_or_expired_ones_is() -> None:
    leases = {
        0: Lease("b", LATER),
        1: Lease("dead", LATER),  # its holder is not among the live daemons
        2: Lease("c", LATER),
        3: Lease("c", NOW),  # expired: c stopped renewing it
    }
    assert moves(4, leases, "a", {"a", "b", "c"}, NOW).take == (1, 3)
    assert moves(4, leases, "a", {"a", "b"}, NOW).take == (1, 2)  # c is gone: all of it


def test_shards_read_as_short_ranges() -> None:
    assert spans([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert spans([]) == ""
