"""One contract for every store (`outreach.ports.Store`): a SQLite file, a real PostgreSQL
database and the in-memory store keep the same promises — an occurrence key is recorded
once, a row moves only as `outreach.core.outbox.MOVES` draws it, a claim is exclusive (also
between threads), a unit of work is kept whole or not at all — and answer every question
alike: history, pauses, handles' digests, the daemons' records, feeds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from outreach.adapters.processes import Worker
from outreach.adapters.store import SqlStore
from outreach.adapters.store.memory import MemoryStore
from outreach.core.delivery import LONGEST_PAUSE, Step
from outreach.core.handles import digest
from outreach.core.model import Decision, FeedEntry, Mention, Message, Status
from outreach.core.outbox import MOVES, OutboxRow, State
from outreach.core.policies import GiftSpend
from outreach.core.rules import Money
from outreach.ports import Store, Unit

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)
SOON = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = "sqlite:///outreach.db"
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    opened = SqlStore.open(url, tmp_path)
    assert opened is not None
    yield opened
    opened.engine.dispose()


def decision(
    key: str,
    status: Status = Status.PLANNED,
    action: str = "email",
    send_at: datetime = SOON,
    reason: str | None = None,
    **details: object,
) -> Decision:
    rule_id, contact_id, _ = key.split(":")
    return Decision(
        rule_id=rule_id,
        contact_id=contact_id,
        action=action,
        channel="email" if action == "email" else "gifts",
        send_at=send_at,
        key=key,
        status=status,
        reason=reason,
        message=Message("Hi", "Dear Ada", None, "templates/note.j2", "en"),
        details={"to": "ada@example.test", **details},
    )


def record(store: Store, *decisions: Decision, now: datetime = NOW) -> list[Decision]:
    with store.unit() as unit:
        return unit.record(decisions, now)


def status_of(store: Store, key: str) -> State | None:
    with store.view() as unit:
        row = unit.get(key)
    return None if row is None else row.status


# --- recording ------------------------------------------------------------------------------


def test_recording_a_plan_twice_writes_each_action_once(store: Store) -> None:
    plan = [
        decision("a:c-1:2026"),
        decision("b:c-1:2026", Status.NEEDS_APPROVAL),
        decision("c:c-1:2026", Status.CAPPED),
        decision("d:c-1:2026", Status.LATE),
    ]
    assert len(record(store, *plan)) == 3  # capped is decided again at every plan
    assert record(store, *plan) == []
    with store.view() as unit:
        assert unit.keys() == {"a:c-1:2026", "b:c-1:2026", "d:c-1:2026"}
        assert unit.counts() == {"pending": 1, "needs_approval": 1, "late": 1}
        (row,) = unit.rows(statuses=[State.PENDING])
    assert isinstance(row, OutboxRow) and row.status is State.PENDING
    assert row.send_at == SOON and row.attempts == 0 and row.claimed_by is None
    assert row.payload["subject"] == "Hi" and row.payload["details"] == {"to": "ada@example.test"}
    assert row.outgoing().to == "ada@example.test" and row.outgoing().attempt == 1


def test_an_error_row_takes_its_decisions_new_outcome(store: Store) -> None:
    assert record(store, decision("a:c-1:2026", Status.ERROR, reason="no template"))
    assert record(store, decision("a:c-1:2026", Status.ERROR, reason="no template")) == []
    assert record(store, decision("a:c-1:2026", Status.ERROR, reason="bad filter"))
    with store.view() as unit:
        assert unit.keys() == frozenset()  # an error is planned again
        row = unit.get("a:c-1:2026")
    assert row is not None and row.reason == "bad filter"
    assert record(store, decision("a:c-1:2026"))  # fixed: it goes
    assert status_of(store, "a:c-1:2026") is State.PENDING
    assert record(store, decision("a:c-1:2026", Status.ERROR, reason="broken again")) == []
    assert status_of(store, "a:c-1:2026") is State.PENDING  # only an error is replaced


def test_errors_a_new_plan_makes_moot_are_forgotten(store: Store) -> None:
    closed = NOW - timedelta(days=1)
    record(
        store,
        decision("a:c-1:2026", Status.ERROR, reason="x"),  # planned again, not recorded yet
        decision("a:c-2:2026", Status.ERROR, reason="x"),  # not planned; window open
        replace(decision("a:c-3:2026", Status.ERROR, reason="x"), deadline=closed),
        decision("b:c-1:2026", Status.ERROR, reason="x"),  # rule b was not planned
    )
    with store.unit() as unit:
        gone = unit.forget_errors(set(), {"a:c-1:2026"}, ["a"], NOW)
    assert gone == 2
    with store.view() as unit:
        assert {row.key for row in unit.rows()} == {"a:c-3:2026", "b:c-1:2026"}


# --- moves ----------------------------------------------------------------------------------


def row_in(store: Store, state: State, key: str) -> str:
    """A row brought to `state` the way outreach brings one there."""
    planned = {
        State.NEEDS_APPROVAL: Status.NEEDS_APPROVAL,
        State.LATE: Status.LATE,
        State.ERROR: Status.ERROR,
    }
    record(store, decision(key, planned.get(state, Status.PLANNED), reason="why"))
    if state in (State.REJECTED, State.CANCELLED):
        with store.unit() as unit:
            assert unit.move(key, [State.PENDING], state, NOW)
    if state in (State.SENDING, State.SENT, State.FAILED, State.DEAD, State.AMBIGUOUS):
        with store.unit() as unit:
            row = unit.claim(key, SOON, "h:1:t")
            assert row is not None
            if state is not State.SENDING:
                step = Step(state, 1, 0, None if state is State.SENT else "said no")
                assert unit.finish(row, step, SOON)
    assert status_of(store, key) is state
    return key


def test_every_drawn_move_is_made_and_every_other_refused(store: Store) -> None:
    for n, (before, after) in enumerate((b, a) for b in State for a in State):
        key = row_in(store, before, f"r{n}:c-1:2026")
        with store.unit() as unit:
            if after in MOVES[before]:
                assert unit.move(key, [before], after, SOON), (before, after)
            else:
                with pytest.raises(ValueError, match="never moves"):
                    unit.move(key, [before], after, SOON)
        assert status_of(store, key) is (after if after in MOVES[before] else before)


def test_a_move_from_a_state_the_row_is_not_in_changes_nothing(store: Store) -> None:
    key = row_in(store, State.NEEDS_APPROVAL, "a:c-1:2026")
    with store.unit() as unit:
        assert not unit.move(key, [State.PENDING], State.REJECTED, NOW)
        assert not unit.move("no:such:key", [State.PENDING], State.REJECTED, NOW)
        assert unit.move(key, [State.NEEDS_APPROVAL], State.PENDING, NOW, note="ok", deadline=None)
        with pytest.raises(ValueError, match="never changes"):
            unit.move(key, [State.PENDING], State.PENDING, NOW, status="sent")
    with store.view() as unit:
        row = unit.get(key)
    assert row is not None and row.note == "ok" and row.deadline is None


def test_a_unit_that_raises_leaves_nothing_and_a_view_keeps_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.unit() as unit:
        unit.record([decision("a:c-1:2026")], NOW)
        unit.pause("email", NOW + timedelta(minutes=5), "busy")
        raise RuntimeError("midway")
    with store.view() as unit:
        unit.record([decision("b:c-1:2026")], NOW)
    with store.view() as unit:
        assert unit.rows() == [] and unit.pauses(NOW) == {}


# --- claims ---------------------------------------------------------------------------------


def test_due_rows_are_claimed_oldest_first_in_batches(store: Store) -> None:
    record(
        store,
        decision("a:c-1:2026", send_at=SOON),
        decision("b:c-1:2026", send_at=SOON - timedelta(hours=1)),
        decision("c:c-1:2026", send_at=SOON + timedelta(days=1)),  # not due yet
        decision("g:c-1:2026", Status.PLANNED, action="gift"),  # another channel
    )
    with store.unit() as unit:
        first, cursor = unit.claim_due("email", SOON, "h:1:t", 1, None, NOW)
        second, cursor = unit.claim_due("email", SOON, "h:1:t", 5, cursor, NOW)
        third, end = unit.claim_due("email", SOON, "h:1:t", 5, cursor, NOW)
    assert [r.key for r in first + second] == ["b:c-1:2026", "a:c-1:2026"]
    assert third == [] and end == cursor
    assert all(r.status is State.SENDING and r.claimed_by == "h:1:t" for r in first + second)
    assert first[0].updated_at == NOW  # stamped with the wall clock
    assert status_of(store, "c:c-1:2026") is State.PENDING
    assert status_of(store, "g:c-1:2026") is State.PENDING


def test_a_failed_row_is_due_again_at_its_next_attempt(store: Store) -> None:
    record(store, decision("a:c-1:2026"))
    with store.unit() as unit:
        row = unit.claim("a:c-1:2026", SOON, "h:1:t")
        assert row is not None
        step = Step(State.FAILED, 1, 0, "busy", next_attempt_at=SOON + timedelta(minutes=5))
        assert unit.finish(row, step, SOON)
        assert unit.claim("a:c-1:2026", SOON, "h:1:t") is None
        assert unit.upcoming(SOON) == {"email": (SOON + timedelta(minutes=5),) * 2}
        later = SOON + timedelta(minutes=5)
        again = unit.claim("a:c-1:2026", later, "h:2:t", wall=later)
    assert again is not None and again.attempts == 1 and again.last_error == "busy"


@pytest.mark.parametrize("how", ["one key", "a batch"])
def test_of_two_threads_claiming_the_same_rows_each_row_goes_to_one(store: Store, how: str) -> None:
    keys = [f"r{n}:c-{n}:2026" for n in range(12)]
    record(store, *(decision(key) for key in keys))
    claimed: dict[str, list[str]] = {"h:1:a": [], "h:2:b": []}
    start = threading.Barrier(2)

    def claimant(worker: str) -> None:
        start.wait()
        for key in keys:
            with store.unit() as unit:
                if how == "one key":
                    row = unit.claim(key, SOON, worker)
                    claimed[worker] += [row.key] if row else []
                else:
                    rows, _ = unit.claim_due("email", SOON, worker, 3)
                    claimed[worker] += [r.key for r in rows]

    threads = [threading.Thread(target=claimant, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    together = claimed["h:1:a"] + claimed["h:2:b"]
    assert sorted(together) == sorted(keys)  # every row once, none twice
    with store.view() as unit:
        rows = {r.key: r.claimed_by for r in unit.rows(statuses=[State.SENDING])}
    assert all(rows[key] == worker for worker, taken in claimed.items() for key in taken)


def test_only_the_claimant_finishes_or_releases_a_row(store: Store) -> None:
    record(store, decision("a:c-1:2026"), decision("b:c-1:2026"))
    with store.unit() as unit:
        row = unit.claim("a:c-1:2026", SOON, "h:1:t")
        other = unit.claim("b:c-1:2026", SOON, "h:1:t")
    assert row is not None and other is not None
    stranger = replace(row, claimed_by="h:9:x")
    sent = Step(State.SENT, 1, 0, provider_id="msg-1", delivered=True)
    with store.unit() as unit:
        assert not unit.finish(stranger, sent, SOON)
        assert not unit.release(stranger, State.PENDING, SOON)
        readdressed = unit.readdress(row, "ada@new.test", SOON)
        assert unit.finish(row, sent, SOON + timedelta(seconds=3))
        assert unit.release(other, State.PENDING, SOON)
        with pytest.raises(ValueError):
            unit.release(other, State.REJECTED, SOON)  # sending -> rejected is not drawn
    assert readdressed.outgoing().to == "ada@new.test"
    with store.view() as unit:
        done, back = unit.get("a:c-1:2026"), unit.get("b:c-1:2026")
    assert done is not None and done.status is State.SENT and done.provider_id == "msg-1"
    assert done.sent_at == SOON + timedelta(seconds=3) and done.claimed_by is None
    assert done.payload["details"]["to"] == "ada@new.test"
    assert back is not None and back.status is State.PENDING and back.claimed_by is None


def test_a_postponed_row_waits_until_its_new_moment(store: Store) -> None:
    record(store, decision("a:c-1:2026"))
    later = SOON + timedelta(hours=8)
    with store.unit() as unit:
        assert unit.postpone("a:c-1:2026", later, SOON)
        assert unit.claim_due("email", SOON, "h:1:t", 5)[0] == []
        assert unit.upcoming(SOON) == {"email": (later, later)}
        assert [r.key for r in unit.claim_due("email", later, "h:1:t", 5)[0]] == ["a:c-1:2026"]


# --- pauses, history, rules -----------------------------------------------------------------


def test_a_channel_rests_until_its_pause_ends(store: Store) -> None:
    with store.unit() as unit:
        unit.pause("email", NOW + timedelta(minutes=5), "429")
        unit.pause("gifts", NOW + LONGEST_PAUSE * 2, "not ours")  # longer than outreach makes
        unit.pause("email", NOW + timedelta(minutes=7), "429 again")  # the later wins
    with store.view() as unit:
        assert unit.pauses(NOW) == {"email": (NOW + timedelta(minutes=7), "429 again")}
        assert unit.pauses(NOW + timedelta(minutes=8)) == {}


def test_history_counts_what_went_or_will_go(store: Store) -> None:
    budget = {"amount": Decimal("25.00"), "currency": "EUR"}
    record(
        store,
        decision("a:c-1:2026"),
        decision("b:c-1:2026", Status.LATE),  # never sent: not counted
        decision("g:c-2:2026", action="gift", budget=budget, ship_by="2026-12-01"),
        decision("h:c-2:2026", action="gift"),  # no budget: spends nothing countable
    )
    with store.view() as unit:
        history, fingerprint = unit.history(), unit.fingerprint()
        settled, still_open = unit.settled_history()
    assert history.recorded == {"a:c-1:2026", "b:c-1:2026", "g:c-2:2026", "h:c-2:2026"}
    assert history.sends == {"c-1": (SOON,), "c-2": (SOON, SOON)}
    money = Money(amount=Decimal("25.00"), currency="EUR")
    assert history.gifts == (GiftSpend("g", "c-2", 2026, money),)
    assert fingerprint == (4, 3)
    assert settled.recorded == {"b:c-1:2026"} and settled.sends == {}
    assert still_open == {"a:c-1:2026": "pending", "g:c-2:2026": "pending", "h:c-2:2026": "pending"}
    with store.unit() as unit:
        assert unit.move("a:c-1:2026", [State.PENDING], State.REJECTED, NOW)
        assert unit.fingerprint() == (4, 2)  # out of the counted: a plan could change


def test_the_open_actions_of_a_removed_rule_are_cancelled(store: Store) -> None:
    record(store, decision("a:c-1:2026"), decision("a:c-2:2026"), decision("b:c-1:2026"))
    row_in(store, State.SENT, "a:c-3:2026")
    with store.unit() as unit:
        assert unit.open_rules() == {"a", "b"}
        assert unit.cancel_rules(["a", "z"], NOW) == {"a": 2}
        assert unit.open_rules() == {"b"}
    with store.view() as unit:
        cancelled = unit.rows(statuses=[State.CANCELLED], contact_id="c-1")
    assert [r.reason for r in cancelled] == ["rule a was removed from the workspace"]
    assert status_of(store, "a:c-3:2026") is State.SENT


def test_rows_are_listed_in_send_order_and_filtered(store: Store) -> None:
    record(
        store,
        decision("b:c-1:2026", send_at=SOON),
        decision("a:c-2:2026", send_at=SOON),
        decision("a:c-1:2026", send_at=SOON - timedelta(hours=1)),
    )
    with store.view() as unit:
        assert [r.key for r in unit.rows()] == ["a:c-1:2026", "a:c-2:2026", "b:c-1:2026"]
        assert [r.key for r in unit.rows(rule_id="a", contact_id="c-2")] == ["a:c-2:2026"]
        assert unit.rows(statuses=[State.SENT]) == []


def test_handles_are_read_from_sorted_digests(store: Store) -> None:
    keys = [f"r:c-{n}:2026" for n in range(6)]
    record(store, *(decision(key) for key in keys))
    ordered = sorted(digest(key) for key in keys)
    with store.view() as unit:
        assert unit.every_digest() == ordered
        assert unit.digests_beside(ordered[2]) == [ordered[1], ordered[3]]
        assert unit.digests_beside(ordered[0]) == [ordered[1]]
        mine = ordered[4]
        assert unit.digests_from(mine[:6]) == {k: mine for k in keys if digest(k) == mine}
        assert len(unit.digests_from("", limit=2)) == 2


# --- the daemons ----------------------------------------------------------------------------


def test_one_daemon_holds_the_lock_until_it_goes_quiet(store: Store) -> None:
    me, other = Worker("here", 1, "a"), Worker("elsewhere", 2, "b")
    with store.unit() as unit:
        assert unit.acquire(me, NOW) is None
        held = unit.acquire(other, NOW + timedelta(seconds=30))
        assert held is not None and held.holder == str(me)
        assert unit.beat(me, NOW + timedelta(minutes=1)) and not unit.beat(other, NOW)
        assert unit.acquire(other, NOW + timedelta(minutes=4)) is None  # silent: taken over
        assert not unit.beat(me, NOW + timedelta(minutes=4))
        holder = unit.holder()
    assert holder is not None and holder.holder == str(other)
    assert holder.started_at == NOW + timedelta(minutes=4)


def test_the_list_of_daemons_their_ticks_and_fallbacks(store: Store) -> None:
    first, second = Worker("here", 1, "a"), Worker("there", 2, "b")
    with store.unit() as unit:
        unit.register(first, NOW)
        unit.register(second, NOW + timedelta(seconds=1))
        unit.beat_registered(first, NOW + timedelta(minutes=1))
        unit.record_tick("plan", NOW, 0.5, None, 300.0)
        unit.record_tick("dispatch", NOW, 0.25, "boom", None)
        unit.record_tick("plan", NOW + timedelta(minutes=5), 0.75, None, 300.0)
        unit.fall_back("rules", NOW, "a broken rule")
        unit.fall_back("rules", NOW + timedelta(minutes=1), "still broken")
        unit.fall_back("config", NOW, "bad yaml")
    with store.view() as unit:
        listed = unit.registered()
        assert [h.holder for h in listed] == [str(first), str(second)]
        assert listed[0].heartbeat_at == NOW + timedelta(minutes=1)
        assert [(t.job, t.seconds, t.error) for t in unit.last_ticks()] == [
            ("dispatch", 0.25, "boom"),
            ("plan", 0.75, None),
        ]
        assert [(f.topic, f.since, f.reason) for f in unit.fallbacks_now()] == [
            ("config", NOW, "bad yaml"),
            ("rules", NOW, "still broken"),  # since the first, why the latest
        ]
    with store.unit() as unit:
        unit.release_daemon(first)  # struck off, and what it ran on is no longer so
        assert [h.holder for h in unit.registered()] == [str(second)]
        assert unit.fallbacks_now() == []
        unit.register(first, NOW + timedelta(days=2))  # a day's silence: struck off
        assert [h.holder for h in unit.registered()] == [str(first)]


# --- feeds ----------------------------------------------------------------------------------

FEED = "https://news.test/rss?token=secret"


def test_a_feed_is_polled_once_an_interval(store: Store) -> None:
    every = timedelta(minutes=30)
    with store.unit() as unit:
        assert unit.take_feed_turn(FEED, NOW, every)
        assert not unit.take_feed_turn(FEED, NOW + every / 2, every)
        assert unit.take_feed_turn(FEED, NOW + every, every)
        state = unit.feed_state(FEED)
    assert state is not None and state.last_fetch == NOW + every
    assert "secret" not in state.url


def test_a_feeds_state_keeps_what_a_conditional_get_needs(store: Store) -> None:
    with store.unit() as unit:
        assert unit.feed_state(FEED) is None
        unit.record_fetch(FEED, NOW, "fetched", None, '"e1"', "Sun, 22 Nov 2026", 3)
        unit.record_fetch(FEED, NOW + timedelta(hours=1), "not_modified", None)
        unit.record_fetch(FEED, NOW + timedelta(hours=2), "error", "timed out")
    with store.view() as unit:
        state = unit.feed_state(FEED)
        assert unit.feeds() == [state]
    assert state is not None
    assert (state.etag, state.last_modified) == ('"e1"', "Sun, 22 Nov 2026")
    assert (state.last_status, state.last_error) == ("error", "timed out")
    assert state.entries_seen == 3 and state.last_fetch == NOW + timedelta(hours=2)


def test_a_story_is_stored_once_with_its_mentions(store: Store) -> None:
    dated = FeedEntry("s1", "Hekla wins", "https://news.test/1", NOW - timedelta(hours=1))
    undated = FeedEntry("s2", "Katla grows", "https://news.test/2", None)
    same_story = FeedEntry("s3", "Hekla wins", "https://other.test/1", None)
    with store.unit() as unit:
        found = [(dated, "news.test/1"), (undated, "news.test/2"), (same_story, "news.test/1")]
        assert unit.add_entries(found, FEED, "en", NOW) == [dated, undated]
        assert unit.add_entries([(dated, "news.test/1")], FEED, "en", NOW) == []
        # An entry found by its id or its link key is known by both.
        assert unit.known_entries(["s2", "s9"], ["news.test/1", "x/y", ""]) == {
            "s2",
            "news.test/2",
            "s1",
            "news.test/1",
        }
        unit.add_mentions([Mention("hekla", dated, "Hekla wins.", 0.9)], NOW)
        unit.add_mentions([Mention("katla", undated, "Katla grows.", 0.7)], NOW)
        unit.add_mentions([Mention("hekla", dated, "Hekla wins!", 0.5)], NOW)  # known
    with store.view() as unit:
        mentions = sorted(unit.mentions(), key=lambda m: m.company_id)
    assert [(m.company_id, m.sentence, m.confidence) for m in mentions] == [
        ("hekla", "Hekla wins.", 0.9),
        ("katla", "Katla grows.", 0.7),
    ]
    assert mentions[0].entry.published == NOW - timedelta(hours=1)
    assert mentions[1].entry.published == NOW  # undated: when first seen
    assert all(m.found == NOW for m in mentions)


def test_unit_is_the_one_interface(store: Store) -> None:
    """Both stores are `outreach.ports.Store` as the type checker sees it, too: this is
    what services are written against."""
    with store.view() as unit:
        typed: Unit = unit
        assert typed.counts() == {}
    assert not store.shared or isinstance(store, SqlStore)
    store.check_intact()
