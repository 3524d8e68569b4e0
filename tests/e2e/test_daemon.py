"""`outreach daemon` as an operator runs it: a subprocess against a local SendGrid server, with
sends that fall due at once (birthdays today, `schedule.at` a few minutes ago, inside or outside
the catch-up window), stopped with SIGTERM, restarted, and edited under it."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fake_sendgrid import Echo, FakeSendGrid, Limit
from helpers import csv_text, make_workspace, preview_json, run_cli, sendgrid_channels, wait_for

MOMENT = datetime.now(UTC) - timedelta(minutes=5)  # the occasions' send time: just passed
TEMPLATE = (
    "{% block subject %}Hello {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, {{ rule.id }}.{% endblock %}\n"
)


def rule(rule_id: str, tag: str, window: str = "2h") -> str:
    return f"""\
  - id: {rule_id}
    trigger: {{birthday: {{}}}}
    when: "'{tag}' in contact.tags"
    action: {{email: {{template: note}}}}
    schedule: {{at: "{MOMENT:%H:%M}", late_by_at_most: {window}}}
"""


def person(number: int, tag: str) -> dict[str, str]:
    return {
        "id": f"c-{number}",
        "first_name": f"P{number}",
        "email": f"p{number}@client.test",
        "birthday": f"1980-{MOMENT:%m-%d}",
        "tags": tag,
    }


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


def workspace(
    root: Path, server: FakeSendGrid, rules: dict[str, str], people: list, at_once: int = 16
) -> Path:
    channels = sendgrid_channels(server.url)
    channels["email"]["concurrency"] = at_once
    return make_workspace(
        root,
        config={"channels": channels},
        contacts=people,
        rules=rules,
        templates={"note.j2": TEMPLATE},
    )


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


class Daemon:
    def __init__(self, root: Path, server: FakeSendGrid, *ticks: str) -> None:
        env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
        env.pop("OUTREACH_WORKSPACE", None)
        self.log = root / f"daemon-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(root)]
        command += list(ticks) or ["--dispatch-every", "1", "--plan-every", "2"]
        command += ["--watch-every", "0.5"]
        command += ["--log-format", "json"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        STARTED.append(self.process)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def statuses(root: Path) -> dict[str, str]:
    result = run_cli("history", "--workspace", root, "--format", "json")
    return {row["key"]: row["status"] for row in json.loads(result.stdout)}


def test_each_message_arrives_once_across_a_restart(tmp_path: Path, server: FakeSendGrid) -> None:
    people = [person(i, "a") for i in range(6)]
    root = workspace(tmp_path / "ws", server, {"notes.yaml": "rules:\n" + rule("a", "a")}, people)
    daemon = Daemon(root, server)
    wait_for(lambda: len(server.accepted_keys()) == 6)
    assert daemon.stop() == 0
    again = Daemon(root, server)
    time.sleep(4)  # several dispatch and planning ticks
    assert again.stop() == 0
    assert all(count == 1 for count in server.accepted_keys().values())
    assert set(statuses(root).values()) == {"sent"}
    messages = [line["message"] for line in daemon.lines()]
    assert "daemon started" in messages and "daemon stopped" in messages
    assert not any("Dear" in json.dumps(line) for line in daemon.lines())  # no bodies logged


def test_a_second_daemon_on_the_same_store_exits_at_once(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    root = workspace(tmp_path / "ws", server, {"notes.yaml": "rules:\n" + rule("a", "a")}, [])
    first = Daemon(root, server)
    wait_for(lambda: "daemon started" in [line.get("message") for line in first.lines()])
    second = subprocess.run(
        [sys.executable, "-m", "outreach", "daemon", "--workspace", str(root)],
        capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "SENDGRID_API_KEY": server.api_key},
    )  # fmt: skip
    assert second.returncode == 1
    assert "another daemon" in second.stderr and "stop it first" in second.stderr
    assert first.stop() == 0
    first.process.wait()
    third = Daemon(root, server)  # the lock was released: a new one starts
    wait_for(lambda: "daemon started" in [line.get("message") for line in third.lines()])
    assert third.stop() == 0


def test_a_daemon_killed_leaves_a_lock_the_next_one_takes_over(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    root = workspace(tmp_path / "ws", server, {"notes.yaml": "rules:\n" + rule("a", "a")}, [])
    first = Daemon(root, server)
    wait_for(lambda: "daemon started" in [line.get("message") for line in first.lines()])
    first.process.kill()
    first.process.wait()
    second = Daemon(root, server)
    wait_for(lambda: "daemon started" in [line.get("message") for line in second.lines()])
    assert second.process.poll() is None
    assert second.stop() == 0


def test_a_broken_rule_file_leaves_the_rest_sending_and_its_fix_is_taken(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    people = [person(1, "a"), person(2, "b")]
    rules = {"a.yaml": "rules:\n" + rule("a", "a"), "b.yaml": "rules:\n" + rule("b", "b")}
    root = workspace(tmp_path / "ws", server, rules, people)
    daemon = Daemon(root, server)
    wait_for(lambda: len(server.accepted_keys()) == 2)

    (root / "rules/b.yaml").write_text("rules:\n  - id: b\n    trigger: {birthday: {}\n")
    people += [person(3, "a"), person(4, "b")]
    (root / "data/contacts.csv").write_text(csv_text(people))
    wait_for(lambda: server.seen(f"a:c-3:{MOMENT.year}") == 1)  # rule a keeps going
    wait_for(lambda: server.seen(f"b:c-4:{MOMENT.year}") == 1)  # b runs its last good version
    assert any("rules/b.yaml:4:1: YAML syntax" in line["message"] for line in daemon.lines())

    (root / "rules/b.yaml").write_text("rules:\n" + rule("b2", "b"))  # fixed, as a new rule
    wait_for(lambda: server.seen(f"b2:c-2:{MOMENT.year}") == 1)
    assert daemon.stop() == 0
    assert all(count == 1 for count in server.accepted_keys().values())


def test_after_downtime_what_is_inside_its_window_goes_and_the_rest_is_late(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    rules = {"notes.yaml": "rules:\n" + rule("inside", "a", "2h") + rule("outside", "a", "1m")}
    root = workspace(tmp_path / "ws", server, rules, [person(1, "a")])
    daemon = Daemon(root, server)  # started five minutes after the send time
    wait_for(lambda: len(statuses(root)) == 2)
    time.sleep(1)
    assert daemon.stop() == 0
    year = MOMENT.year
    assert statuses(root) == {f"inside:c-1:{year}": "sent", f"outside:c-1:{year}": "late"}
    assert server.accepted_keys() == {f"inside:c-1:{year}": 1}


def test_a_deleted_rules_waiting_actions_are_cancelled(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    gift = """\
  - id: gift
    trigger: {birthday: {}}
    action: {gift: {item: Pencil, card: note}}
"""
    people = [{**person(1, "a"), "address_line1": "Main St 1", "city": "Reykjavík"}]
    root = workspace(tmp_path / "ws", server, {"gifts.yaml": "rules:\n" + gift}, people)
    daemon = Daemon(root, server, "--plan-every", "1", "--removal-grace", "2")
    wait_for(lambda: set(statuses(root).values()) == {"needs_approval"})
    (root / "rules/gifts.yaml").write_text("rules: []\n")
    wait_for(lambda: set(statuses(root).values()) == {"cancelled"})
    assert daemon.stop() == 0
    result = run_cli("history", "--workspace", root, "--format", "json")
    assert json.loads(result.stdout)[0]["error"] == "rule gift was removed from the workspace"


LONG_TICKS = ("--dispatch-every", "600", "--plan-every", "600")  # far beyond any wait below


def test_what_is_due_at_start_goes_right_after_the_first_plan(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    rules = {"notes.yaml": "rules:\n" + rule("a", "a")}
    root = workspace(tmp_path / "ws", server, rules, [person(1, "a"), person(2, "a")])
    daemon = Daemon(root, server, *LONG_TICKS)
    wait_for(lambda: len(server.accepted_keys()) == 2, seconds=90)  # not at the next tick
    assert daemon.stop() == 0
    assert set(statuses(root).values()) == {"sent"}


def test_after_429s_with_a_short_reset_email_goes_at_the_reset_not_at_the_next_tick(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    server.script(Limit(1), Limit(1))
    people = [person(i, "a") for i in range(1, 5)]
    notes = {"notes.yaml": "rules:\n" + rule("a", "a")}
    root = workspace(tmp_path / "ws", server, notes, people, at_once=1)  # requests in turn
    daemon = Daemon(root, server, *LONG_TICKS)
    # The second 429 refuses the first row again (its own backoff: 15-30 s); the three others
    # go when that rest ends.
    wait_for(lambda: len(server.accepted_keys()) == 3, seconds=90)
    assert [r.status for r in server.requests] == [429, 429, 202, 202, 202]
    wait_for(lambda: len(server.accepted_keys()) == 4, seconds=90)
    assert daemon.stop() == 0
    assert set(statuses(root).values()) == {"sent"}
    resting = [line for line in daemon.lines() if line.get("message") == "channel resting"]
    assert len(resting) == 2 and all(line["level"] == "info" for line in resting)


@pytest.mark.slow
def test_a_send_goes_at_its_minute_not_at_the_next_planning_tick(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=75)).replace(second=0, microsecond=0)
    note = rule("soon", "a").replace(f'at: "{MOMENT:%H:%M}"', f'at: "{soon:%H:%M}"')
    people = [{**person(1, "a"), "birthday": f"1980-{soon:%m-%d}"}]
    root = workspace(tmp_path / "ws", server, {"notes.yaml": "rules:\n" + note}, people)
    daemon = Daemon(root, server, "--dispatch-every", "600", "--plan-every", "600")
    wait_for(lambda: server.seen(f"soon:c-1:{soon.year}") == 1, seconds=150)
    late_by = datetime.now(UTC) - soon
    assert daemon.stop() == 0
    assert late_by < timedelta(seconds=20)


def test_a_provider_echoing_the_api_key_never_puts_it_in_the_log(tmp_path: Path) -> None:
    key = "SG.d43mon/s3cret+key"
    with FakeSendGrid(api_key=key) as server:
        server.script(Echo(400), Echo(500))  # dead, and failed: tried again later
        people = [person(1, "a"), person(2, "a")]
        root = workspace(
            tmp_path / "ws", server, {"notes.yaml": "rules:\n" + rule("a", "a")}, people
        )
        daemon = Daemon(root, server)
        wait_for(lambda: sorted(statuses(root).values()) == ["dead", "failed"])
        assert daemon.stop() == 0
    logged = daemon.log.read_text()
    assert "SendGrid 400: refused" in logged and "Bearer [redacted]" in logged
    encoded = base64.b64encode(key.encode()).decode()
    for form in (key, quote(key, safe=""), quote(key), encoded, encoded.rstrip("=")):
        assert form not in logged


def test_runaway_templates_and_conditions_stop_neither_planning_nor_sigterm(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    """Planning runs in a worker thread, where no signal interrupts a render: a `when:` that
    would hold the GIL for hours and a template that loops for as long as it may fail their
    own messages; the sound rule after them sends; SIGTERM, sent while the daemon is busy
    with them, stops it."""
    power = rule("power", "a").replace("'a' in contact.tags", "((9**999)**999)**999 > 0")
    loop = rule("loop", "a").replace("template: note", "template: loop")
    rules = {
        "hostile.yaml": "rules:\n" + power + loop,
        "sound.yaml": "rules:\n" + rule("sound", "a"),
    }
    root = workspace(tmp_path / "ws", server, rules, [person(1, "a"), person(2, "a")])
    (root / "templates/loop.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block text %}\n"
        "{% for i in range(100000) %}{{ ('ab ' * 30000)|wordwrap(3)|length }}{% endfor %}"
        "{% endblock %}"
    )
    daemon = Daemon(root, server)
    wait_for(lambda: len(server.accepted_keys()) == 2)
    time.sleep(1)  # planning again, busy with the loop (about 2 s a contact)

    assert daemon.stop() == 0
    assert {key.split(":")[0] for key in server.accepted_keys()} == {"sound"}
    plan = preview_json(root, now=MOMENT.isoformat(), days=1)
    reasons = {d["rule"]: d["reason"] for d in plan if d["status"] == "error"}
    assert "larger than 65536 bits" in reasons["power"]
    assert "templates/loop.j2:2: took longer than 2 s" in reasons["loop"]
