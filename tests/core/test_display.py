"""How times and handles are written for people (pure functions)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.core.display import age, local_time
from outreach.core.handles import SHORTEST, handles, resolve
from outreach.core.rules import Rule

from .factory import engine, person, rule


def test_local_time_is_the_wall_clock_with_its_offset() -> None:
    moment = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
    assert local_time(moment, ZoneInfo("Asia/Dubai")) == "2026-12-03 09:00 +0400"
    assert local_time(moment, ZoneInfo("Asia/Kathmandu")) == "2026-12-03 10:45 +0545"
    assert local_time(moment.astimezone(ZoneInfo("America/St_Johns"))) == "2026-12-03 01:30 -0330"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3600, "1 h"), (3900, "1 h 5 min"),
     (86400, "1 d"), (90000, "1 d 1 h")],
)  # fmt: skip
def test_age(seconds: int, said: str) -> None:
    assert age(seconds) == said


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=300, unique=True))
def test_each_handle_is_a_unique_prefix_of_its_keys_digest(keys: list[str]) -> None:
    found = handles(keys, keys)
    digests = {key: hashlib.sha256(key.encode()).hexdigest() for key in keys}
    for key, handle in found.items():
        assert len(handle) >= SHORTEST and digests[key].startswith(handle)
        assert [k for k, d in digests.items() if d.startswith(handle)] == [key]
        assert resolve(handle, digests).key == key
        assert resolve(key, digests).key == key


def test_a_handle_grows_only_as_far_as_another_key_shares_it() -> None:
    keys = [f"r:c-{n}:2026" for n in range(100_000)]
    found = handles(keys, keys)
    assert min(map(len, found.values())) == SHORTEST
    assert max(map(len, found.values())) > SHORTEST  # 100,000 keys: some share 7 characters


def test_an_ambiguous_handle_names_every_candidate() -> None:
    digests = {"a:1:x": "abcd1111", "a:2:x": "abcd2222", "a:3:x": "ffff0000"}
    found = resolve("ABCD", digests)
    assert found.key is None and found.candidates == ("a:1:x", "a:2:x")
    assert found.problem == (
        "the handle ABCD is ambiguous: it could be a:1:x, a:2:x; give more characters or the key"
    )
    assert resolve("abc", digests).problem == "no such key in the outbox"  # too short to try
    assert resolve("0123", digests).problem == "no such key or handle in the outbox"


def test_an_occurrence_that_cannot_be_planned_is_timed_on_its_recipients_clock() -> None:
    planner = engine(rule("r"))
    now = datetime(2026, 6, 1, 5, 0, 30, 123, tzinfo=UTC)
    failed = planner.failed(
        Rule.model_validate(rule("r")), person("c-1", tz="Asia/Dubai"), "r:c-1:x", now, ValueError()
    )
    assert failed.send_at.isoformat() == "2026-06-01T09:00:30+04:00"
