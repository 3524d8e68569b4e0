"""Planning shards under leases, on SQLite and the suite's real PostgreSQL: daemons share them
out evenly, a dead daemon's shards are taken over once its leases expire, a stopping daemon
frees its own at once; and plans made shard by shard add up to the plan made whole."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace

from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, daemons, leases
from outreach.core.shards import Shards
from outreach.services.workspace import load_workspace

NOW = datetime(2026, 6, 10, 10, tzinfo=UTC)
COUNT = 60


@pytest.fixture
def store(tmp_path: Path, store_url: str) -> Store:
    opened = Store.open(store_url, tmp_path)
    assert opened is not None
    return opened


def elsewhere(name: str) -> Worker:
    """A daemon on another machine: alive as long as it beats (no process to look at)."""
    return Worker(f"host-{name}", 100, name)


def turn(store: Store, me: Worker, now: datetime) -> Shards:
    with store.transaction() as connection:
        if now == NOW:  # its first turn: it enters the list of daemons
            daemons.register(connection, me, now)
        else:
            daemons.beat_registered(connection, me, now)
        return leases.rebalance(connection, me, COUNT, now)


def settle(store: Store, workers: list[Worker], now: datetime) -> dict[Worker, Shards]:
    held: dict[Worker, Shards] = {}
    for _ in range(3):  # a daemon gives up what is above its share; another takes it next
        for worker in workers:
            held[worker] = turn(store, worker, now)
    return held


def test_one_daemon_holds_every_shard(store: Store) -> None:
    assert turn(store, elsewhere("a"), NOW).everyone


def test_three_daemons_share_the_shards_evenly_and_without_overlap(store: Store) -> None:
    workers = [elsewhere(n) for n in "abc"]
    turn(store, workers[0], NOW)  # the first alone takes all, then gives up two thirds
    held = settle(store, workers, NOW)
    assert sorted(len(s.held) for s in held.values()) == [20, 20, 20]
    assert set().union(*(s.held for s in held.values())) == set(range(COUNT))
    with store.engine.connect() as connection:
        assert leases.unheld(connection, NOW, COUNT) == 0
        assert {h: len(s) for h, s in leases.holdings(connection, NOW).items()} == {
            str(w): 20 for w in workers
        }


def test_a_dead_daemons_shards_are_taken_once_its_leases_expire(store: Store) -> None:
    a, b, _c = workers = [elsewhere(n) for n in "abc"]
    settle(store, workers, NOW)
    soon = NOW + leases.LEASE_FOR / 2  # c is silent from now on; a and b go on beating
    for worker in (a, b):
        assert len(turn(store, worker, soon).held) == 20  # c's leases still run
    later = NOW + leases.LEASE_FOR + timedelta(seconds=1)
    held = settle(store, [a, b], later)
    assert sorted(len(s.held) for s in held.values()) == [30, 30]
    assert held[a].held | held[b].held == set(range(COUNT))


def test_a_daemon_on_this_machine_seen_dead_loses_its_shards_at_once(store: Store) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    me = Worker.current()
    dead = Worker(me.host, gone.pid, "gone")
    settle(store, [me, dead], NOW)
    assert len(turn(store, me, NOW + timedelta(seconds=1)).held) == COUNT


def test_a_stopping_daemon_frees_its_shards_for_the_next_turn(store: Store) -> None:
    a, b = elsewhere("a"), elsewhere("b")
    settle(store, [a, b], NOW)
    with store.transaction() as connection:
        daemons.release(connection, b)
    assert turn(store, a, NOW + timedelta(seconds=1)).everyone


def test_a_lease_not_renewed_is_no_longer_held(store: Store) -> None:
    a = elsewhere("a")
    turn(store, a, NOW)
    with store.engine.connect() as connection:
        assert leases.held(connection, a, COUNT, NOW + leases.LEASE_FOR).held == frozenset()


def test_plans_made_shard_by_shard_add_up_to_the_plan_made_whole(tmp_path: Path) -> None:
    people = [
        {"id": f"c-{i}", "first_name": f"P{i}", "email": f"p{i}@x.test", "birthday": "1980-06-10"}
        for i in range(50)
    ]
    root = make_workspace(
        tmp_path / "ws",
        contacts=people,
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    engine, data = (loaded := load_workspace(root)).engine, loaded.data
    whole = engine.plan(data, NOW, NOW + timedelta(days=1))
    parts = [
        engine.plan(data, NOW, NOW + timedelta(days=1), contacts=Shards(3, frozenset({n})))
        for n in range(3)
    ]
    assert all(parts) and sum(len(p) for p in parts) == len(whole) == 50
    assert sorted(d.key for p in parts for d in p) == sorted(d.key for d in whole)
