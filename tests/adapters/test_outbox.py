"""The outbox on a real SQLite file and a real PostgreSQL database: each action once, moving
only forward."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outreach.adapters.store import Store, outbox
from outreach.core.delivery import Step
from outreach.core.model import Decision, Message, Status
from outreach.core.outbox import State

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)


def decision(
    key: str, status: Status = Status.PLANNED, action: str = "email", contact: str = "c-1"
) -> Decision:
    return Decision(
        rule_id=key.split(":")[0],
        contact_id=contact,
        action=action,
        channel="email" if action == "email" else "gifts",
        send_at=datetime(2026, 11, 23, 9, tzinfo=UTC),
        key=key,
        status=status,
        message=Message("Hi", "Dear Ada", None, "templates/note.j2", "en"),
        details={"to": "ada@example.test"},
    )


@pytest.fixture
def store(tmp_path: Path, store_url: str) -> Store:
    opened = Store.open(store_url, tmp_path)
    assert opened is not None
    return opened


def test_recording_a_plan_twice_writes_each_action_once(store: Store) -> None:
    plan = [
        decision("a:c-1:2026"),
        decision("b:c-1:2026", Status.NEEDS_APPROVAL),
        decision("c:c-1:2026", Status.CAPPED),
        decision("d:c-1:2026", Status.LATE),
    ]
    with store.transaction() as connection:
        assert len(outbox.record(connection, plan, NOW)) == 3  # capped is decided again
    with store.transaction() as connection:
        assert not outbox.record(connection, plan, NOW)
        assert outbox.keys(connection) == {"a:c-1:2026", "b:c-1:2026", "d:c-1:2026"}
        assert outbox.counts(connection) == {"pending": 1, "needs_approval": 1, "late": 1}
        (row,) = outbox.rows(connection, statuses=["pending"])
    assert row.payload["subject"] == "Hi" and row.payload["details"] == {"to": "ada@example.test"}
    assert row.send_at == datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_rows_move_only_from_the_states_named(store: Store) -> None:
    with store.transaction() as connection:
        outbox.record(connection, [decision("a:c-1:2026", Status.NEEDS_APPROVAL)], NOW)
        assert outbox.move(connection, "a:c-1:2026", ["needs_approval"], "pending", NOW)
        assert not outbox.move(connection, "a:c-1:2026", ["needs_approval"], "rejected", NOW)
        assert not outbox.move(connection, "nope", ["needs_approval"], "pending", NOW)
        assert [r.status for r in outbox.rows(connection)] == ["pending"]


def test_counted_sends_are_emails_and_gifts_that_went_or_will_go(store: Store) -> None:
    with store.transaction() as connection:
        outbox.record(
            connection,
            [
                decision("a:c-1:2026"),
                decision("g:c-1:2026", action="gift"),
                decision("l:c-1:2026", Status.LATE),
                decision("t:c-2:2026", action="task", contact="c-2"),
            ],
            NOW,
        )
        sends = outbox.counted_sends(connection)
    assert sends == {"c-1": (datetime(2026, 11, 23, 9, tzinfo=UTC),) * 2}


def test_the_store_survives_reopening(tmp_path: Path, store_url: str) -> None:
    first = Store.open(store_url, tmp_path)
    assert first is not None
    with first.transaction() as connection:
        outbox.record(connection, [decision("a:c-1:2026")], NOW)
    again = Store.open(store_url, tmp_path)
    assert again is not None and again.id == first.id
    with again.transaction() as connection:
        assert outbox.keys(connection) == {"a:c-1:2026"}


def test_the_fingerprint_changes_only_when_a_plan_could(store: Store) -> None:
    with store.transaction() as connection:
        empty = outbox.fingerprint(connection)
        outbox.record(connection, [decision("a:c-1:2026"), decision("b:c-1:2026")], NOW)
        recorded = outbox.fingerprint(connection)
        outbox.move(connection, "a:c-1:2026", [State.PENDING], State.CLAIMED, NOW)
        outbox.move(connection, "a:c-1:2026", [State.CLAIMED], State.SENDING, NOW)
        outbox.move(connection, "a:c-1:2026", [State.SENDING], State.SENT, NOW)
        assert outbox.fingerprint(connection) == recorded  # still counts against the cap
        outbox.move(connection, "b:c-1:2026", [State.PENDING], State.REJECTED, NOW)
        rejected = outbox.fingerprint(connection)
    assert len({empty, recorded, rejected}) == 3


def _open_store(url: str, root: str) -> str:
    try:
        opened = Store.open(url, Path(root))
    except Exception as exc:
        return repr(exc)
    return opened.id if opened else "no store"


def test_many_processes_can_create_the_same_store_at_once(tmp_path: Path, store_url: str) -> None:
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        ids = set(pool.starmap(_open_store, [(store_url, str(tmp_path))] * 6))
    assert len(ids) == 1 and len(ids.pop()) == 36, ids  # one store, made once


def test_the_store_refuses_a_move_the_outbox_does_not_draw(store: Store) -> None:
    with store.transaction() as connection:
        outbox.record(connection, [decision("a:c-1:2026")], NOW)
        assert outbox.move(connection, "a:c-1:2026", [State.PENDING], State.REJECTED, NOW)
        with pytest.raises(ValueError, match="never moves a row from rejected to claimed"):
            outbox.move(connection, "a:c-1:2026", [State.REJECTED], State.CLAIMED, NOW)
        with pytest.raises(ValueError, match="never moves a row from sent to pending"):
            outbox.move(connection, "a:c-1:2026", [State.SENT], State.PENDING, NOW)
        (row,) = outbox.rows(connection)
    assert row.status is State.REJECTED


def test_text_postgresql_refuses_loses_only_itself(store: Store) -> None:
    """SQLite keeps any text; PostgreSQL refuses NUL and text longer than its column. A
    contact id with a NUL in it must not fail the plan for everyone, nor a provider's long
    message id the record of a message that went."""
    odd = replace(decision("a:c-1\x00:2026", contact="c-1\x00"), details={"to": "a\x00@x.test"})
    with store.transaction() as connection:
        assert len(outbox.record(connection, [odd, decision("b:c-2:2026")], NOW)) == 2
    with store.transaction() as connection:
        claimed = outbox.claim(connection, "b:c-2:2026", NOW + timedelta(days=2), "h:1:t")
        assert claimed is not None and claimed.status is State.CLAIMED
        row = outbox.start(connection, claimed, NOW + timedelta(days=2))
        assert row is not None and row.status is State.SENDING
        step = Step(State.SENT, 1, 0, None, None, "id-" + "9" * 600, delivered=True)
        assert outbox.finish(connection, row, step, NOW + timedelta(days=2))
    with store.engine.connect() as connection:
        rows = {row.key: row for row in outbox.rows(connection)}
    sent = rows.pop("b:c-2:2026")
    assert sent.status is State.SENT and (sent.provider_id or "").startswith("id-999")
    ((key, kept),) = rows.items()
    assert kept.payload["details"] == {"to": "a\x00@x.test"}  # the message itself, exactly
    assert key == kept.key and kept.key.startswith("a:c-1") and kept.status is State.PENDING
