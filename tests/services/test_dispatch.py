"""run_once on a real store (SQLite and PostgreSQL), with recording channels: each action once,
never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, outbox_row

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.files import FileChannel
from outreach.adapters.channels.recording import RecordingChannel
from outreach.adapters.processes import LEASE, Worker
from outreach.adapters.store import Store, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.clock import fixed_clock
from outreach.services.channels import ChannelSet
from outreach.services.dispatch import Dispatcher, RunReport, run_once, send_within
from outreach.services.workspace import Workspace, load_workspace

DUE = datetime(2026, 6, 10, 10, tzinfo=UTC)  # an hour after the 09:00 birthday notes

GIFT_RULE = """\
rules:
  - id: birthday-gift
    trigger:
      birthday: {}
    action:
      gift: {item: Pencil, budget: {amount: 40, currency: EUR}, card: card,
             max_per_year: {per_contact: 100, per_company: 60}}
    schedule: {at: "09:00", late_by_at_most: 2d}
    approval: auto
"""


def contact(cid: str, **extra: str) -> dict[str, str]:
    return {
        "id": cid,
        "first_name": cid.upper(),
        "email": f"{cid}@example.test",
        "birthday": "1980-06-10",
        "address_line1": "Main St 1",
        "city": "Reykjavík",
        **extra,
    }


@pytest.fixture
def workspace(tmp_path: Path, store_url: str) -> Workspace:
    root = make_workspace(
        tmp_path / "ws",
        config={"store": store_url},
        contacts=[contact("c-1"), contact("c-2"), contact("c-3")],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    return load_workspace(root)


def open_store(loaded: Workspace) -> Store:
    store = Store.open(loaded.config.store, loaded.root)
    assert store is not None
    return store


def run(loaded: Workspace, at: datetime = DUE, **channels: RecordingChannel) -> RunReport:
    chosen = ChannelSet(loaded.config, loaded.root, {}, overrides=channels)
    return run_once(loaded, open_store(loaded), chosen, fixed_clock(at))


def statuses(loaded: Workspace) -> dict[str, str]:
    with open_store(loaded).engine.connect() as connection:
        return {row.key: row.status for row in outbox.rows(connection)}


def test_a_due_note_goes_once_however_often_run_runs(workspace: Workspace) -> None:
    email = RecordingChannel()
    report = run(workspace, email=email)
    assert report.recorded == {"pending": 3}
    assert report.outcomes == {"sent": 3}
    assert run(workspace, email=email).outcomes == {}
    assert run(workspace, DUE + timedelta(hours=5), email=email).outcomes == {}
    assert sorted(email.keys) == [f"birthday-note:c-{i}:2026" for i in (1, 2, 3)]
    assert set(statuses(workspace).values()) == {"sent"}


def test_nothing_is_recorded_before_it_is_due(workspace: Workspace) -> None:
    email = RecordingChannel()
    report = run(workspace, DUE - timedelta(days=3), email=email)
    assert report.recorded == {} and email.sent == []


def test_a_contact_who_opts_out_after_recording_is_not_written_to(
    workspace: Workspace,
) -> None:
    email = RecordingChannel([Delivery("retry", error="SendGrid 503")] * 3)
    run(workspace, email=email)  # all three fail once and wait for a retry
    opted = workspace.data.contacts["c-2"]
    contacts = dict(workspace.data.contacts)
    contacts["c-2"] = type(opted)(**{**_fields(opted), "opted_out": True})
    workspace.data = type(workspace.data).build(contacts)
    report = run(workspace, DUE + timedelta(hours=2), email=email)
    assert report.outcomes == {"sent": 2, "cancelled": 1}
    assert "birthday-note:c-2:2026" not in email.keys
    with open_store(workspace).engine.connect() as connection:
        row = outbox.get(connection, "birthday-note:c-2:2026")
    assert row is not None and row.last_error == "opted out (checked at send time)"


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def test_a_failure_is_retried_after_its_backoff(workspace: Workspace) -> None:
    email = RecordingChannel([Delivery("retry", error="SendGrid 500: oops", retry_after=300)])
    report = run(workspace, email=email)
    assert report.outcomes == {"sent": 2, "failed": 1}
    assert run(workspace, DUE + timedelta(seconds=200), email=email).outcomes == {}
    assert run(workspace, DUE + timedelta(seconds=301), email=email).outcomes == {"sent": 1}
    assert len(email.sent) == 3 and len(email.tried) == 4


def test_a_pretend_moment_chooses_what_is_due_and_the_wall_clock_what_is_recorded(
    workspace: Workspace,
) -> None:
    """`run --now` in the past: rows are stamped, retried and rested on the real clock."""
    wall = DUE + timedelta(days=170)
    email = RecordingChannel(
        [Delivery("retry", error="SendGrid 429", retry_after=300, rest_channel=True)]
    )

    def pretend(at: datetime) -> RunReport:
        chosen = ChannelSet(workspace.config, workspace.root, {}, overrides={"email": email})
        return run_once(workspace, open_store(workspace), chosen, fixed_clock(DUE), lambda: at)

    assert pretend(wall).outcomes == {"failed": 1}
    assert pretend(wall + timedelta(seconds=200)).outcomes == {}  # rests, on the real clock
    assert pretend(wall + timedelta(seconds=400)).outcomes == {"sent": 3}
    with open_store(workspace).engine.connect() as connection:
        rows = list(outbox.rows(connection))
    assert {row.sent_at for row in rows} == {wall + timedelta(seconds=400)}
    assert {row.updated_at for row in rows} == {wall + timedelta(seconds=400)}
    assert all(row.send_at <= DUE for row in rows)  # planned for the pretend moment


def test_a_permanent_error_is_dead_with_the_providers_words(workspace: Workspace) -> None:
    email = RecordingChannel([Delivery("dead", error="SendGrid 400: bad from (field from)")])
    run(workspace, email=email)
    with open_store(workspace).engine.connect() as connection:
        (dead,) = outbox.rows(connection, statuses=["dead"])
    assert dead.last_error == "SendGrid 400: bad from (field from)"


def test_refused_credentials_pause_the_channel_instead_of_burning_the_queue(
    workspace: Workspace,
) -> None:
    email = RecordingChannel([Delivery("paused", error="SendGrid 401: bad key")])
    report = run(workspace, email=email)
    assert len(email.tried) == 1 and report.outcomes == {}
    assert "SendGrid 401" in report.paused["email"]
    assert set(statuses(workspace).values()) == {"pending"}
    assert run(workspace, DUE + timedelta(minutes=5), email=email).outcomes == {}
    later = run(workspace, DUE + timedelta(minutes=11), email=email)
    assert later.outcomes == {"sent": 3}


def test_a_rate_limit_rests_the_channel_until_the_reset(workspace: Workspace) -> None:
    email = RecordingChannel(
        [Delivery("retry", error="SendGrid 429", retry_after=120, rest_channel=True)]
    )
    report = run(workspace, email=email)
    assert len(email.tried) == 1 and report.outcomes == {"failed": 1}
    with open_store(workspace).engine.connect() as connection:
        ((until, _),) = outbox.pauses(connection, DUE).values()
        rows = {row.key: row for row in outbox.rows(connection)}
    assert DUE + timedelta(seconds=120) <= until <= DUE + timedelta(seconds=134)  # + jitter
    refused = rows.pop("birthday-note:c-1:2026")
    assert (refused.attempts, refused.next_attempt_at) == (1, until)
    assert {(r.status, r.attempts, r.next_attempt_at) for r in rows.values()} == {
        ("pending", 0, None)  # never tried: they wait for the channel, not for a backoff
    }
    assert run(workspace, until - timedelta(seconds=1), email=email).outcomes == {}
    assert run(workspace, until, email=email).outcomes == {"sent": 3}


@pytest.mark.parametrize(
    ("asked", "longest", "said"),
    [
        (86_400.0, timedelta(minutes=15), "asked to wait 86400 s: resting 15 min at most"),
        (None, timedelta(seconds=30), "no wait named: resting 30 s"),
    ],
)
def test_a_rest_the_provider_did_not_name_or_named_too_long_is_bounded_and_logged(
    workspace: Workspace,
    caplog: pytest.LogCaptureFixture,
    asked: float | None,
    longest: timedelta,
    said: str,
) -> None:
    limited = Delivery("retry", error="SendGrid 429", retry_after=asked, rest_channel=True)
    run(workspace, email=RecordingChannel([limited]))
    with open_store(workspace).engine.connect() as connection:
        ((until, why),) = outbox.pauses(connection, DUE).values()
    assert longest <= until - DUE <= longest * 1.1 + timedelta(seconds=2)
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage() == "channel resting" and warning.fields["note"] == said
    assert why == "SendGrid 429"


def test_an_unusable_channel_leaves_its_actions_waiting(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": {"username_env": "SMTP_USER", "password_env": "SMTP_PW"}}},
        contacts=[contact("c-1")],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    loaded = load_workspace(root)
    chosen = ChannelSet(loaded.config, loaded.root, {})
    report = run_once(loaded, open_store(loaded), chosen, fixed_clock(DUE))
    assert report.unusable == {"email": "the environment variable SMTP_USER is not set"}
    assert set(statuses(loaded).values()) == {"pending"}


def test_what_missed_its_window_while_waiting_is_late(workspace: Workspace) -> None:
    email = RecordingChannel([Delivery("paused", error="401")])
    run(workspace, email=email)
    report = run(workspace, DUE + timedelta(days=3), email=email)
    assert report.outcomes == {"late": 3}
    assert email.sent == []


def _orphan(loaded: Workspace, key: str, claimed_by: str, started: bool = True) -> None:
    """A row left in `sending` (or only `claimed`) by a dispatcher that is gone."""
    store = open_store(loaded)
    run(loaded, DUE - timedelta(days=1))  # creates the store, records nothing yet
    with store.transaction() as connection:
        outbox.record(connection, _plan(loaded), DUE)
        claimed = outbox.claim(connection, key, DUE, claimed_by)
        assert claimed is not None
        if started:
            assert outbox.start(connection, claimed, DUE) is not None


def _plan(loaded: Workspace) -> list:
    return loaded.engine.plan(loaded.data, DUE, DUE + timedelta(days=1))


def dead_worker() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return str(Worker(Worker.current().host, process.pid, "gone"))


def test_an_email_interrupted_mid_send_is_tried_once_more_and_called_ambiguous(
    workspace: Workspace,
) -> None:
    _orphan(workspace, "birthday-note:c-1:2026", dead_worker())
    email = RecordingChannel()
    report = run(workspace, email=email)
    assert report.recovered == 1
    assert report.outcomes == {"sent": 2, "ambiguous": 1}
    assert statuses(workspace)["birthday-note:c-1:2026"] == "ambiguous"
    assert sorted(email.keys) == [f"birthday-note:c-{i}:2026" for i in (1, 2, 3)]


@pytest.mark.parametrize("action", ["email", "gift"])
def test_a_row_only_claimed_by_a_dead_dispatcher_goes_once_without_doubt(
    workspace: Workspace, gifts: Workspace, action: str
) -> None:
    """Its request never began: it is simply due again, neither doubtful nor ambiguous."""
    loaded = workspace if action == "email" else gifts
    key = f"birthday-{'note' if action == 'email' else 'gift'}:c-1:2026"
    _orphan(loaded, key, dead_worker(), started=False)
    assert statuses(loaded)[key] == "claimed"
    email = RecordingChannel()
    report = run(loaded, email=email)
    assert report.recovered == 1 and "ambiguous" not in report.outcomes
    assert statuses(loaded)[key] == "sent"
    with open_store(loaded).engine.connect() as connection:
        row = outbox.get(connection, key)
    assert row is not None and row.doubtful == 0 and row.attempts == 1
    if action == "email":
        assert email.keys.count(key) == 1
    else:
        assert sink_keys(loaded).count(key) == 1


def test_an_email_interrupted_twice_is_not_sent_a_third_time(workspace: Workspace) -> None:
    key = "birthday-note:c-1:2026"
    _orphan(workspace, key, dead_worker())
    store = open_store(workspace)
    dispatcher(workspace, store, Worker.current()).run()
    with store.transaction() as connection:  # its second try is interrupted too
        connection.execute(
            outbox.outbox.update()
            .where(outbox.outbox.c.key == key)
            .values(status="sending", claimed_by=dead_worker())
        )
    email = RecordingChannel()
    run(workspace, email=email)
    assert statuses(workspace)[key] == "ambiguous"
    assert key not in email.keys


def dispatcher(loaded: Workspace, store: Store, worker: Worker) -> Dispatcher:
    channels = ChannelSet(loaded.config, loaded.root, {}, overrides={"email": RecordingChannel()})
    clock = fixed_clock(DUE)
    return Dispatcher(store, channels, loaded.data, loaded.config, clock, RunReport(), worker)


def test_a_live_dispatchers_claim_is_left_alone(workspace: Workspace) -> None:
    other = Worker(Worker.current().host, os.getppid(), "alive")  # a process that lives
    _orphan(workspace, "birthday-note:c-1:2026", str(other))
    me = Worker.current()
    found = dispatcher(workspace, open_store(workspace), me)
    found.run()
    assert statuses(workspace)["birthday-note:c-1:2026"] == "sending"
    assert found.report.recovered == 0


@pytest.fixture
def gifts(tmp_path: Path) -> Workspace:
    root = make_workspace(
        tmp_path / "gifts",
        contacts=[contact("c-1", company_id="acme"), contact("c-2", company_id="acme")],
        companies=[{"id": "acme", "name": "Acme"}],
        rules={"gifts.yaml": GIFT_RULE},
        templates={"card.j2": "{% block text %}Happy birthday!{% endblock %}"},
    )
    return load_workspace(root)


def sink_keys(loaded: Workspace) -> list[str]:
    path = loaded.root / "out/gift-tasks.jsonl"
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("written", [True, False])
def test_an_interrupted_gift_is_looked_up_in_its_sink_never_sent_twice(
    gifts: Workspace, written: bool
) -> None:
    key = "birthday-gift:c-1:2026"
    _orphan(gifts, key, dead_worker())
    if written:  # the line was written; the dispatcher died before it could say so
        with open_store(gifts).engine.connect() as connection:
            row = outbox.get(connection, key)
        assert row is not None
        FileChannel(gifts.root / "out/gift-tasks.jsonl").send(row)
    run(gifts)
    assert sink_keys(gifts).count(key) == 1
    assert statuses(gifts)[key] == "sent"


def test_an_interrupted_webhook_is_flagged_for_a_person(gifts: Workspace) -> None:
    key = "birthday-gift:c-1:2026"
    _orphan(gifts, key, dead_worker())
    hook = RecordingChannel()  # a gift sink that cannot be read back
    run(gifts, gifts=hook)
    assert statuses(gifts)[key] == "ambiguous"
    assert key not in hook.keys


def test_a_gift_over_its_yearly_limit_is_held_for_approval(gifts: Workspace) -> None:
    report = run(gifts)
    # 40 EUR each; the company's limit is 60 EUR a year: the second gift to acme is held.
    assert report.recorded == {"pending": 1, "needs_approval": 1}
    with open_store(gifts).engine.connect() as connection:
        (held,) = outbox.rows(connection, statuses=["needs_approval"])
    assert held.payload["reason"].startswith("held: gift limit per company")
    assert "80 EUR on company acme in 2026" in held.payload["reason"]


def test_history_feeds_the_next_plan(gifts: Workspace) -> None:
    run(gifts)
    with open_store(gifts).engine.connect() as connection:
        seen = outbox.history(connection)
    assert len(seen.gifts) == 2 and seen.recorded == set(statuses(gifts))
    assert all(g.year == 2026 and g.budget.amount == 40 for g in seen.gifts)


class Sleepy(RecordingChannel):
    def send(self, row: OutboxRow) -> Delivery:
        time.sleep(5)
        return super().send(row)


class Broken(RecordingChannel):
    def send(self, row: OutboxRow) -> Delivery:
        raise OverflowError("cannot convert float infinity to integer")


def test_a_channel_that_never_answers_is_given_up_on_in_time() -> None:
    delivery = send_within(Sleepy(), outbox_row(), seconds=0.2)  # Sleepy answers `sent` in 5 s
    assert delivery.outcome == "retry" and delivery.doubtful


def test_a_surprise_inside_a_channel_leaves_no_row_sending(workspace: Workspace) -> None:
    report = run(workspace, email=Broken())
    assert report.outcomes == {"failed": 3}
    with open_store(workspace).engine.connect() as connection:
        rows = list(outbox.rows(connection))
    assert {r.status for r in rows} == {"failed"} and not any(r.doubtful for r in rows)
    assert "unexpected OverflowError in the email channel" in (rows[0].last_error or "")


def test_a_contact_gone_from_the_file_is_waited_for_not_cancelled(workspace: Workspace) -> None:
    email = RecordingChannel([Delivery("retry", error="503")] * 3)
    run(workspace, email=email)
    contacts = {k: v for k, v in workspace.data.contacts.items() if k != "c-3"}
    workspace.data = type(workspace.data).build(contacts)
    report = run(workspace, DUE + timedelta(hours=2), email=email)
    assert report.outcomes == {"sent": 2}
    assert "not in the contacts file" in report.held["birthday-note:c-3:2026"]
    assert statuses(workspace)["birthday-note:c-3:2026"] == "pending"


def test_a_note_held_back_into_the_night_waits_for_the_morning(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws",
        config={"policies": {"quiet_hours": {"start": "20:00", "end": "08:00"}}},
        contacts=[contact("c-1", timezone="Atlantic/Reykjavik")],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    loaded = load_workspace(root)
    email = RecordingChannel([Delivery("paused", error="401")])
    run(loaded, email=email)  # 10:00: refused; the channel rests
    night = datetime(2026, 6, 10, 23, 30, tzinfo=UTC)
    assert run(loaded, night, email=email).outcomes == {}
    with open_store(loaded).engine.connect() as connection:
        row = outbox.get(connection, "birthday-note:c-1:2026")
    assert row is not None and row.send_at == datetime(2026, 6, 11, 8, tzinfo=UTC)
    assert run(loaded, row.send_at, email=email).outcomes == {"sent": 1}


def test_nothing_is_sent_while_the_suppression_list_is_broken(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws",
        contacts=[contact("c-1")],
        suppressions="who\nc-1@example.test\n",  # no address column to be found
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    loaded = load_workspace(root)
    email = RecordingChannel()
    report = run(loaded, email=email)
    assert email.sent == [] and report.needs_operator
    assert "the suppression list has errors" in report.unusable["all"]


def test_a_claim_older_than_the_lease_is_orphaned_even_if_its_pid_lives() -> None:
    me = Worker.current()
    alive = str(Worker(me.host, os.getppid(), "old"))
    assert not me.orphaned(alive, DUE, DUE + timedelta(minutes=5))
    assert me.orphaned(alive, DUE, DUE + LEASE + timedelta(seconds=1))


def test_a_pass_ends_when_the_workspace_it_started_with_is_outdated(
    workspace: Workspace,
) -> None:
    run(workspace, DUE - timedelta(days=1))  # creates the store
    with open_store(workspace).transaction() as connection:
        outbox.record(connection, workspace.engine.plan(workspace.data, DUE, DUE), DUE)
    email = RecordingChannel()
    channels = ChannelSet(workspace.config, workspace.root, {}, overrides={"email": email})
    report = RunReport()
    Dispatcher(
        open_store(workspace), channels, workspace.data, workspace.config, fixed_clock(DUE),
        report, outdated=lambda: True,
    ).run()  # fmt: skip
    assert email.tried == [] and report.outcomes == {}
