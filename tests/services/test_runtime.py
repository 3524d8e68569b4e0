"""The daemon's runtime without the scheduler: reloads and the single-daemon lock."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, csv_text, make_workspace

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.recording import RecordingChannel
from outreach.adapters.processes import Worker
from outreach.adapters.store import outbox
from outreach.core.model import Decision, Status
from outreach.core.outbox import OutboxRow
from outreach.services.channels import ChannelSet
from outreach.services.runtime import AlreadyRunning, Runtime

OTHER_RULE = BIRTHDAY_RULE.replace("birthday-note", "second-note")


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    root = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "email": "a@client.test"}],
        rules={"a.yaml": BIRTHDAY_RULE, "b.yaml": OTHER_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    return Runtime.start(root, {})


def edit(path: Path, text: str) -> None:
    time.sleep(0.01)  # a distinct mtime
    path.write_text(text)


def settled(runtime: Runtime) -> bool:
    """watch() as the daemon calls it: a change is taken at the second look."""
    assert runtime.watch() is False  # seen changing
    return runtime.watch()


def rule_ids(runtime: Runtime) -> list[str]:
    return [rule.id for rule in runtime.workspace.engine.rules]


def test_nothing_changed_nothing_reloaded(runtime: Runtime) -> None:
    assert runtime.watch() is False


def test_a_sound_edit_takes_over(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    assert settled(runtime) is True
    assert rule_ids(runtime) == ["birthday-note"]


def test_a_broken_rule_keeps_the_last_good_rules_but_takes_the_data(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules:\n  - id: [\n")
    edit(runtime.root / "data/contacts.csv", csv_text([{"id": "c-1"}, {"id": "c-2"}]))
    assert settled(runtime) is True
    assert rule_ids(runtime) == ["birthday-note", "second-note"]
    assert sorted(runtime.workspace.data.contacts) == ["c-1", "c-2"]


@pytest.mark.parametrize("broken", ["timezone: Mars/Olympus\n", "timezone: [\n"])
def test_a_broken_outreach_yaml_keeps_the_rest_and_stops_sending(
    runtime: Runtime, broken: str
) -> None:
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    edit(runtime.root / "outreach.yaml", broken)
    assert settled(runtime) is True
    assert rule_ids(runtime) == ["birthday-note", "second-note"]
    assert runtime.workspace.config.timezone == "UTC"
    assert "outreach.yaml has errors" in (runtime.workspace.unsafe_to_send or "")
    assert runtime.dispatch().outcomes == {}


def test_a_half_written_file_is_not_taken_until_it_holds_still(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    assert runtime.watch() is False
    edit(runtime.root / "rules/b.yaml", "rules:\n")  # still being written
    assert runtime.watch() is False
    assert runtime.watch() is True


def test_a_permission_fix_is_noticed(runtime: Runtime) -> None:
    (runtime.root / "data/contacts.csv").chmod(0o600)
    assert settled(runtime) is True


def test_a_rule_is_cancelled_only_after_it_stayed_gone(runtime: Runtime) -> None:
    now = datetime(2026, 6, 10, 10, tzinfo=UTC)
    waiting = Decision("second-note", "c-1", "email", "email", now, "second-note:c-1:2026",
                       Status.NEEDS_APPROVAL)  # fmt: skip
    with runtime.store.transaction() as connection:
        outbox.record(connection, [waiting], now)
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    settled(runtime)
    runtime.clock = lambda: now
    assert runtime.plan().cancelled_rules == {}
    runtime.clock = lambda: now + timedelta(minutes=6)
    assert runtime.plan().cancelled_rules == {"second-note": 1}


def test_one_daemon_per_sqlite_store(runtime: Runtime) -> None:
    other = Runtime(runtime.root, {}, runtime.workspace, runtime.store)
    other.worker = Worker(Worker.current().host, os.getppid(), "alive")  # a live process
    other.acquire()
    with pytest.raises(AlreadyRunning, match="stop it first"):
        runtime.acquire()
    other.release()
    runtime.acquire()  # released: taken
    assert other.heartbeat() is False and other.stop.is_set()  # it must stop now
    assert runtime.heartbeat() is True


def test_the_lock_of_a_daemon_that_died_is_taken_over(runtime: Runtime) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = Runtime(runtime.root, {}, runtime.workspace, runtime.store)
    dead.worker = Worker(Worker.current().host, gone.pid, "gone")
    dead.acquire()
    runtime.acquire()  # no AlreadyRunning: its holder's process is gone
    assert runtime.heartbeat() is True


def test_an_action_that_cannot_be_prepared_is_logged_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prometheus_client import generate_latest

    from outreach.metrics import Metrics

    root = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "email": "", "birthday": "1980-06-10"}],  # no address
        rules={"a.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    clock = lambda: datetime(2026, 6, 10, 10, tzinfo=UTC)  # noqa: E731
    runtime = Runtime.start(root, {}, clock)
    metrics = Metrics(runtime.queue_counts)
    runtime.on_tick = metrics.on_tick

    with caplog.at_level("WARNING", logger="outreach.daemon"):
        runtime.tick("plan", runtime.plan)
        runtime.tick("plan", runtime.plan)  # the same error again: told once

    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.getMessage() == "action cannot be prepared"
    assert record.fields["key"] == "birthday-note:c-1:2026"
    assert "no email address" in record.fields["error"]
    exposed = generate_latest(metrics.registry).decode()
    assert 'outreach_planned_total{status="error"} 1.0' in exposed


def test_a_dispatch_asked_for_during_a_pass_waits_for_it_then_makes_its_own(
    tmp_path: Path,
) -> None:
    people = [
        {"id": f"c-{i}", "email": f"p{i}@client.test", "birthday": "1980-06-10"} for i in (1, 2)
    ]
    root = make_workspace(
        tmp_path / "ws",
        contacts=people,
        rules={"a.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    runtime = Runtime.start(root, {}, lambda: datetime(2026, 6, 10, 10, tzinfo=UTC))
    runtime.acquire()
    assert runtime.plan().recorded == {"pending": 2}
    first = "birthday-note:c-1:2026"  # sorts before the row being sent: behind the pass

    def status(value: str) -> None:
        with sqlite3.connect(root / "outreach.db") as db:
            db.execute("UPDATE outbox SET status = ? WHERE key = ?", (value, first))

    status("needs_approval")  # not there yet
    second = threading.Thread(target=runtime.dispatch)
    meanwhile: list[int] = []  # rows tried by anyone while the first was being sent

    class PlannedMeanwhile(RecordingChannel):
        """While the other row is sent, a plan records `first` as due, and the daemon asks
        for a dispatch pass (as `_dispatch_by` does, in a thread of its own)."""

        def send(self, row: OutboxRow) -> Delivery:
            if not self.tried:
                status("pending")
                second.start()
                time.sleep(0.3)  # it would be sending by now, if it did not wait
                meanwhile.append(len(self.tried))
            return super().send(row)

    email = PlannedMeanwhile()
    runtime.channels = ChannelSet(runtime.workspace.config, root, {}, overrides={"email": email})
    runtime.dispatch()
    second.join(timeout=10)
    assert meanwhile == [0]  # never two passes at once
    assert email.keys == ["birthday-note:c-2:2026", first]  # the second pass took it
    runtime.release()


def test_a_channel_whose_rest_ends_during_a_long_pass_sends_in_one_more(tmp_path: Path) -> None:
    gift = """\
rules:
  - id: zz-gift
    trigger: {birthday: {lead_days: 0}}
    action: {gift: {item: Pencil, card: birthday}}
    schedule: {at: "09:00", late_by_at_most: 2d}
    approval: auto
"""
    people = [
        {"id": f"c-{i}", "email": f"p{i}@client.test", "birthday": "1980-06-10",
         "address_line1": "Main St 1", "city": "Reykjavík"}
        for i in (1, 2)
    ]  # fmt: skip
    root = make_workspace(
        tmp_path / "ws",
        contacts=people,
        rules={"a.yaml": BIRTHDAY_RULE, "b.yaml": gift},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    now = [datetime(2026, 6, 10, 10, tzinfo=UTC)]
    runtime = Runtime.start(root, {}, lambda: now[0])
    runtime.acquire()
    assert runtime.plan().recorded == {"pending": 4}

    class Slow(RecordingChannel):
        """Each gift takes a minute: the rate limit's rest is over before the pass is."""

        def send(self, row: OutboxRow) -> Delivery:
            now[0] += timedelta(minutes=1)
            return super().send(row)

    email = RecordingChannel([Delivery("retry", error="429", retry_after=2, rest_channel=True)])
    overrides = {"email": email, "gifts": Slow()}
    runtime.channels = ChannelSet(runtime.workspace.config, root, {}, overrides=overrides)
    runtime.dispatch()
    assert email.keys == ["birthday-note:c-1:2026", "birthday-note:c-2:2026"]  # not next tick
    assert len(email.tried) == 3
    runtime.release()
