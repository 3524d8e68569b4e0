"""Writers at once on one store, as several daemons on one PostgreSQL are: a second
transaction writing the row a first one has written but not yet committed (a job's tick, a
channel's pause, a feed's state, a news entry, a fallback) waits for it and then finishes,
never failing on a duplicate key; on SQLite it waits for the write lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from outreach.adapters.store import SqlStore, daemons, feeds, outbox
from outreach.adapters.store.schema import channel_pauses, entries, fallbacks, ticks
from outreach.adapters.store.schema import feeds as feed_rows
from outreach.core.model import FeedEntry

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)
FEED = "https://news.test/rss"
ENTRY = FeedEntry(id="story-1", title="Hekla wins", link="https://news.test/1", published=NOW,
                  summary="")  # fmt: skip

Write = Callable[[SqlStore, Connection, int], object]
WRITES: dict[str, Write] = {
    "tick": lambda store, c, n: daemons.record_tick(c, "dispatch", NOW, float(n), None),
    "pause": lambda store, c, n: outbox.pause(c, "email", NOW + timedelta(minutes=n), f"#{n}"),
    "feed": lambda store, c, n: feeds.record_fetch(c, FEED, NOW, "fetched", None, f"e{n}", None, n),
    "entry": lambda store, c, n: feeds.add_entries(c, [(ENTRY, "news.test/1")], FEED, "en", NOW),
    "fallback": lambda store, c, n: daemons.fall_back(
        c, "rules", NOW + timedelta(minutes=n), f"#{n}"
    ),
}

LEFT = {  # what the two writes leave
    "tick": [2.0],  # the later wins
    "pause": ["#2"],
    "feed": [("e2", 3)],  # the entries both saw, counted
    "entry": ["story-1"],
    "fallback": [("2026-11-22T08:01:00+00:00", "#2")],  # since the first, why the latest
}


def stored(store: SqlStore) -> dict[str, object]:
    """What each kind of write left."""
    with store.engine.connect() as connection:
        return {
            "tick": connection.execute(select(ticks.c.seconds)).scalars().all(),
            "pause": connection.execute(select(channel_pauses.c.reason)).scalars().all(),
            "feed": connection.execute(select(feed_rows.c.etag, feed_rows.c.entries_seen)).all(),
            "entry": connection.execute(select(entries.c.id)).scalars().all(),
            "fallback": connection.execute(select(fallbacks.c.since, fallbacks.c.reason)).all(),
        }


@pytest.mark.parametrize("kind", WRITES)
def test_a_second_writer_of_the_same_row_waits_and_finishes(
    tmp_path: Path, store_url: str, kind: str
) -> None:
    store = SqlStore.open(store_url, tmp_path)
    assert store is not None
    write, results, failures = WRITES[kind], [], []

    def second() -> None:
        try:
            with store.transaction() as connection:
                results.append(write(store, connection, 2))
        except Exception as exc:
            failures.append(repr(exc))

    later = threading.Thread(target=second)
    with store.transaction() as connection:
        results.append(write(store, connection, 1))
        later.start()
        time.sleep(0.3)  # the second writer is waiting for this row now
    later.join(timeout=60)

    assert failures == []
    assert stored(store)[kind] == LEFT[kind]
    if kind == "entry":
        assert results == [[ENTRY], []]  # new to the first only


def test_a_feed_is_read_by_one_daemon_an_interval(tmp_path: Path, store_url: str) -> None:
    """Several daemons on one store each schedule every feed: the first to come in an
    interval takes the turn, the others let it pass; the next interval, one reads it again."""
    daemons_ = [SqlStore.open(store_url, tmp_path) for _ in range(3)]
    every = timedelta(minutes=30)
    turns: list[bool] = []

    def poll(store: SqlStore | None, at: datetime) -> None:
        assert store is not None
        with store.unit() as unit:
            turns.append(unit.take_feed_turn(FEED, at, every))

    for at in (NOW, NOW + every / 2, NOW + every):
        turns.clear()
        together = [threading.Thread(target=poll, args=(d, at)) for d in daemons_]
        for thread in together:
            thread.start()
        for thread in together:
            thread.join(timeout=60)
        assert sorted(turns) == ([False] * 3 if at == NOW + every / 2 else [False, False, True])
