"""Issue 9's promise, as a user meets it with a real SMTP server: nobody who said no (or may
have) is written to, and no note vanishes unreported."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, run_cli
from local_smtp import Mailbox

DUE = "2026-06-10T10:00:00+00:00"  # a birthday on 06-10 is due (09:00, within 2 days)


def history(workspace: Path, *args: str) -> list[dict]:
    result = run_cli("history", "--workspace", workspace, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# Opt-outs fail closed ----------------------------------------------------------------------

CONTACTS = (
    "id,first_name,email,birthday,Opted Out\n"  # 1: the opt-out header spelled as people do
    "c-dup,Ann,ann@client.test,1980-06-10,false\n"  # 2
    "c-dup,Ann,ann.home@client.test,1980-06-10,true\n"  # 3: the same person, opted out
    "c-head,Bo,bo@client.test,1980-06-10,yes\n"  # 4: opted out under that header
    "c-comment,Cy,zed0@client.test(x),1980-06-10,\n"  # 5: an address with a comment
    "c-tag,Di,ZED0+news@Client.TEST,1980-06-10,\n"  # 6: the suppressed mailbox, other spelling
    "c-dot,Ed,zed1@client.test.,1980-06-10,\n"  # 7: a trailing dot
    "c-maybe,Fi,fi@client.test,1980-06-10,perhaps\n"  # 8: an opt-out that cannot be read
    "c-twin,Gus,fi@client.test,1980-06-10,\n"  # 9: Fi's address under another id
    "c-ok,Hal,hal@client.test,1980-06-10,\n"  # 10: the one to write to
)


@pytest.fixture
def optouts(tmp_path: Path, mailbox: Mailbox) -> Path:
    return make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts=CONTACTS,
        suppressions="zed0@client.test\n",  # one address, no header
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


def test_only_the_contact_who_may_be_written_to_is_written_to(
    optouts: Path, mailbox: Mailbox
) -> None:
    result = run_cli("run", "--workspace", optouts, "--now", DUE)

    assert mailbox.rcpt == ["hal@client.test"], "nobody else, and never an empty RCPT TO"
    assert result.exit_code == 1, "the contacts file has errors; an email could not be prepared"
    errors = {row["contact"]: row for row in history(optouts, "--status", "error")}
    assert set(errors) == {"c-dot"}, "an unusable address is an error"
    assert "email is not a usable address" in errors["c-dot"]["reason"]
    again = run_cli("run", "--workspace", optouts, "--now", DUE)
    assert mailbox.rcpt == ["hal@client.test"], "nothing more on a second run"
    assert again.exit_code == 1


def test_validate_names_each_reading(optouts: Path) -> None:
    stderr = run_cli("validate", "--workspace", optouts).stderr
    assert "data/contacts.csv:1:30: warning: column 'Opted Out' is read as opted_out" in stderr
    assert "data/contacts.csv:3:1: duplicate id 'c-dup'" in stderr
    assert "data/contacts.csv:5:" in stderr and "zed0@client.test(x)" in stderr
    assert "data/contacts.csv:7:" in stderr and "ends with a dot" in stderr
    assert "data/contacts.csv:8:" in stderr and "'perhaps' is not true or false" in stderr


def test_preview_says_why_each_is_withheld(optouts: Path) -> None:
    result = run_cli(
        "preview", "--workspace", optouts, "--now", DUE, "--days", "1", "--format", "json"
    )
    found = {d["contact"]: d for d in json.loads(result.stdout)}
    assert found["c-ok"]["status"] == "planned"
    for withheld in ("c-dup", "c-head", "c-comment", "c-tag", "c-maybe", "c-twin"):
        assert found[withheld]["status"] == "suppressed", withheld
    assert "withheld" in found["c-dup"]["reason"]
    assert "suppression list" in found["c-tag"]["reason"]
    assert "lines 8 and 9" in found["c-twin"]["reason"], "Fi's address under another id"
    assert "suppression list" in found["c-comment"]["reason"], "the mailbox its cell names"


# Errors are recorded, shown, counted, and cleared once fixed --------------------------------

RULES = """\
rules:
  - id: note
    trigger: {birthday: {}}
    action: {email: {template: note}}
    schedule: {late_by_at_most: 2d}
  - id: scored
    trigger: {birthday: {}}
    when: "contact.score <= 6"
    action: {task: {template: note, assignee: am@example.test}}
    schedule: {late_by_at_most: 2d}
  - id: gift
    trigger: {birthday: {}}
    action: {gift: {item: Pencil}}
    approval: auto
    schedule: {late_by_at_most: 2d}
"""
BROKEN = "{% block subject %}Hi {{ company.name }}{% endblock %}{% block text %}x{% endblock %}"
FIXED = (
    "{% block subject %}Hi {{ company.name if company else contact.first_name }}{% endblock %}"
    "{% block text %}x{% endblock %}"
)


ADA = {
    "id": "c-1",
    "first_name": "Ada",
    "email": "ada@client.test",
    "birthday": "1980-06-10",
    "score": "9",
    "address_line1": "Main St 1",
    "city": "Reykjavík",
    "company_id": "acme",
}
BO = {"id": "c-2", "first_name": "Bo", "email": "", "birthday": "1980-06-10", "score": "3"}


@pytest.fixture
def erring(tmp_path: Path, mailbox: Mailbox) -> Path:
    return make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts=[ADA, BO],
        companies=[{"id": "acme", "name": "Acme"}],
        rules={"r.yaml": RULES},
        templates={"note.j2": BROKEN},
    )


def test_every_error_is_recorded_shown_and_makes_run_fail(erring: Path, mailbox: Mailbox) -> None:
    result = run_cli("run", "--workspace", erring, "--now", DUE)

    assert result.exit_code == 1
    errors = {(row["rule"], row["contact"]): row for row in history(erring, "--status", "error")}
    assert set(errors) == {("note", "c-2"), ("scored", "c-1"), ("scored", "c-2"), ("gift", "c-2")}
    assert "no email address" in errors["note", "c-2"]["reason"]
    assert "'<=' not supported" in errors["scored", "c-1"]["reason"]
    assert "shipping address" in errors["gift", "c-2"]["reason"]
    assert all(row["status"] == "error" and row["key"] for row in errors.values())
    assert "error: 4 actions cannot be prepared" in result.stdout
    assert "note:c-2:2026" in result.stdout
    queue = run_cli("queue", "list", "--workspace", erring, "--format", "json")
    assert {r["status"] for r in json.loads(queue.stdout)} >= {"error"}
    status = json.loads(run_cli("status", "--workspace", erring, "--format", "json").stdout)
    assert status["outbox"]["error"] == 4
    assert mailbox.rcpt == ["ada@client.test"], "the sound rest still goes"


def test_a_fixed_error_is_planned_again_and_sent(erring: Path, mailbox: Mailbox) -> None:
    template = erring / "templates" / "note.j2"
    (erring / "data" / "companies.yaml").write_text("companies: []\n", encoding="utf-8")
    run_cli("run", "--workspace", erring, "--now", DUE)
    erring_keys = {row["key"] for row in history(erring, "--status", "error")}
    assert "note:c-1:2026" in erring_keys
    assert mailbox.rcpt == []

    template.write_text(FIXED, encoding="utf-8")
    run_cli("run", "--workspace", erring, "--now", DUE)

    assert mailbox.rcpt == ["ada@client.test"]
    (sent,) = history(erring, "--status", "sent", "--rule", "note")
    assert sent["key"] == "note:c-1:2026"
    assert ("note", "c-1") not in {
        (r["rule"], r["contact"]) for r in history(erring, "--status", "error")
    }


def test_an_error_can_be_rejected_and_then_stays_quiet(erring: Path) -> None:
    run_cli("run", "--workspace", erring, "--now", DUE)
    rejected = run_cli("queue", "reject", "gift:c-2:2026", "--workspace", erring)
    assert rejected.exit_code == 0, rejected.stdout
    run_cli("run", "--workspace", erring, "--now", DUE)
    (row,) = history(erring, "--rule", "gift", "--contact", "c-2")
    assert row["status"] == "rejected"


# No value from data, feeds or the store stops planning for anyone ---------------------------

HOSTILE_RULES = """\
rules:
  - id: quiet
    trigger: {inactivity: {days: 30}}
    action: {task: {template: plain, assignee: am@example.test}}
  - id: renewal
    trigger: {date: {field: renewal, offset_days: -30}}
    action: {task: {template: plain, assignee: am@example.test}}
  - id: ended
    trigger: {date: {field: ended, offset_days: 30}}
    action: {task: {template: plain, assignee: am@example.test}}
  - id: big
    trigger: {purchase_milestone: {lifetime_total: [1000]}}
    action: {task: {template: plain, assignee: am@example.test}}
  - id: news
    trigger: {news_mention: {min_confidence: 0.1}}
    action: {task: {template: plain, assignee: am@example.test}}
"""
PLAIN = "{% block subject %}{{ rule.id }} {{ contact.id }}{% endblock %}"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path / "ws",
        contacts=(
            "id,first_name,company_id,renewal,ended\n"
            "c-bad,Ann,acme,0001-01-01,9999-12-31\n"  # 2: dates no occasion can be built on
            "c-ok,Bo,acme,2026-07-10,2026-05-02\n"
        ),
        purchases=(
            "id,contact_id,date,amount,currency,product\n"
            "p-1,c-bad,9999-12-31,10,EUR,Van\n"  # 2
            "p-2,c-bad,2026-05-01,1e999999999,EUR,Van\n"  # 3
            "p-3,c-bad,2026-05-01,1E-999999999,EUR,Van\n"  # 4
            "p-4,c-ok,2026-06-09,1500,EUR,Van\n"
        ),
        companies=[{"id": "acme", "name": "Acme Hydraulics", "context": ["hydraulics"]}],
        rules={"r.yaml": HOSTILE_RULES},
        templates={"plain.j2": PLAIN},
    )


def test_out_of_range_values_are_refused_where_they_enter(hostile: Path) -> None:
    result = run_cli("validate", "--workspace", hostile, "--days", "0", cwd=hostile)
    for where, value in [
        ("data/contacts.csv:2:16:", "0001-01-01"),
        ("data/contacts.csv:2:27:", "9999-12-31"),
        ("data/purchases.csv:2:11:", "9999-12-31"),
        ("data/purchases.csv:3:22:", "1e999999999"),
        ("data/purchases.csv:4:22:", "1E-999999999"),
    ]:
        line = next(line for line in result.stderr.splitlines() if line.startswith(where))
        assert f"'{value}' is outside the years 1800-2999" in line or "out of range" in line


def test_a_story_dated_9999_in_the_store_stops_nothing(hostile: Path) -> None:
    assert run_cli("run", "--workspace", hostile, "--now", DUE).exit_code == 1  # makes the store
    with sqlite3.connect(hostile / "outreach.db") as db:
        db.execute(
            "INSERT INTO entries (id, link_key, feed_url, language, title, link, published, "
            "summary, first_seen) VALUES ('e-9999', '', 'x', 'en', 'Acme Hydraulics opens a "
            "plant', '', '9999-12-31T23:59:59+00:00', 'Acme Hydraulics opens a hydraulics "
            "plant.', '2026-06-10T08:00:00+00:00')"
        )
        db.execute(
            "INSERT INTO mentions VALUES ('e-9999', 'acme', 'Acme Hydraulics opens a plant.',"
            " 0.9, '2026-06-10T08:00:00+00:00')"
        )
    for command in (["run"], ["preview", "--days", "30"], ["explain", "c-ok"]):
        result = run_cli(*command, "--workspace", hostile, "--now", DUE)
        assert result.exit_code in (0, 1), (command, result.stderr)
    status = run_cli("status", "--workspace", hostile)
    assert status.exit_code == 0, status.stderr
    keys = {row["key"] for row in history(hostile)}
    assert {"news:c-ok:e-9999", "news:c-bad:e-9999", "big:c-ok:total-1000"} <= keys
    assert "renewal:c-ok:2026-06-10" in keys


def test_a_contacts_file_read_only_in_part_sends_nothing(tmp_path: Path, mailbox: Mailbox) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts="id,email,birthday,opted_out\nc-1,ann@client.test,1980-06-10,false\n",
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    with (ws / "data" / "contacts.csv").open("ab") as contacts:  # a cp1252 export's byte
        contacts.write(b"c-1,ann@client.test,1980-06-10,tru\xe9\n")

    result = run_cli("run", "--workspace", ws, "--now", DUE)

    assert mailbox.rcpt == []
    assert result.exit_code == 1 and "not read whole" in result.stdout


@pytest.mark.parametrize("command", ["validate", "preview"])
def test_a_dry_run_says_that_nothing_would_be_sent(tmp_path: Path, command: str) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        contacts="id,email\nc-1,ann@client.test\n",
        purchases="id,contact_id,date,amount,currency,product\n"
        + "".join(f"p-{n},c-{n},2026-01-0{n},10,EUR,van\n" for n in range(1, 4)),
    )
    with (ws / "data" / "contacts.csv").open("ab") as contacts:
        contacts.write(b"c-2,b\xe9@client.test\n")

    result = run_cli(command, "--workspace", ws, "--now", DUE)

    assert result.exit_code == 1
    assert "nothing is sent until this is fixed: the contacts file was not read whole" in (
        result.stderr
    )
    # the purchases of contacts not read are no errors of their own: one warning counts them
    assert "no contact with id" not in result.stderr
    assert "rows name contacts that were not read" in result.stderr


def test_commands_that_only_read_never_make_a_store(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "email": "a@client.test", "birthday": "1980-06-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    (ws / "outreach.db").write_bytes(b"")  # an empty database, as a new PostgreSQL one is
    for command in (["history"], ["queue", "list"], ["status"], ["preview", "--now", DUE]):
        words = 2 if command[0] == "queue" else 1
        result = run_cli(*command[:words], "--workspace", ws, *command[words:])
        assert result.exit_code == 0, (command, result.stderr)
    with sqlite3.connect(ws / "outreach.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    assert not (ws / ".outreach").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_out_never_waits_on_a_fifo_nor_replaces_a_device(tmp_path: Path, kind: str) -> None:
    ws = make_workspace(tmp_path / "ws", rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    target = Path("/dev/null")
    if kind == "fifo":
        target = tmp_path / "plan.html"
        os.mkfifo(target)
    result = run_cli(
        "preview", "--workspace", ws, "--now", DUE, "--format", "html", "--out", target
    )
    assert result.exit_code == 1 and "cannot write it" in result.stderr
    assert target.is_fifo() if kind == "fifo" else target.is_char_device()


# A store edited by hand, or damaged, stops nothing for anyone else ---------------------------

HAND_EDITS = [
    "('x1', 'old', 'c-9', 'gift', 'gifts', 'sent', '2026-06-09T09:00:00+00:00', 'not json', 0, 0)",
    "('x2', 'old', 'c-9', 'gift', 'gifts', 'sent', '2026-06-09T09:00:00+00:00', '[]', 0, 0)",
    "('x3', 'old', 'c-9', 'email', 'email', 'pending', '2026-06-09T09:00:00+00:00', 'null', 0, 0)",
    "('x4', 'old', 'c-9', 'email', 'email', 'pending', '2026-06-09T09:00:00+00:00', "
    "'{\"details\": null}', 0, 0)",
    "('x5', 'old', 'c-9', 'email', 'email', 'failed', '2026-06-09T09:00:00+00:00', "
    "'{\"details\": {\"to\": 5}}', 'abc', 0)",
    "('x6', 'old', 'c-9', 'email', 'email', 'error', '2026-06-09T09:00:00+00:00', '{}', 0, 0)",
]


def test_rows_edited_by_hand_stop_nothing_for_anyone_else(tmp_path: Path, mailbox: Mailbox) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts=[{"id": "c-1", "email": "ann@client.test", "birthday": "1980-06-10"},
                  {"id": "c-9", "email": "old@client.test"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )  # fmt: skip
    assert run_cli("run", "--workspace", ws, "--now", "2026-06-09T08:00:00+00:00").exit_code == 0
    with sqlite3.connect(ws / "outreach.db") as db:
        for values in HAND_EDITS:
            db.execute(
                "INSERT INTO outbox (key, rule_id, contact_id, action, channel, status, send_at,"
                f" payload, attempts, doubtful, created_at, updated_at) VALUES {values[:-1]},"
                " 'a', 'b')"
            )
        db.execute("UPDATE outbox SET next_attempt_at = '2026-06-09T09:00:00+00:00'")
        db.execute("UPDATE outbox SET deadline = x'00ff' WHERE key = 'x6'")
        db.execute("INSERT INTO channel_pauses VALUES ('email', 'zzzz', 'hand-made')")

    result = run_cli("run", "--workspace", ws, "--now", DUE)
    for command in (["history"], ["status"], ["preview", "--now", DUE], ["queue", "list"]):
        words = 2 if command[0] == "queue" else 1
        shown = run_cli(*command[:words], "--workspace", ws, *command[words:])
        assert shown.exit_code == 0, (command, shown.stderr)

    assert mailbox.rcpt == ["ann@client.test"], "the sound note went; no damaged row did"
    assert "paused" not in result.stdout, "a pause that cannot be read is no pause"
    statuses = {row["key"]: row["status"] for row in history(ws)}
    assert statuses["x3"] == statuses["x4"] == statuses["x5"] == "dead"


def test_an_email_goes_to_the_address_the_contact_has_now(tmp_path: Path, mailbox: Mailbox) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts=[{"id": "c-1", "email": "ann@old.test", "birthday": "1980-06-10"},
                  {"id": "c-2", "email": "bo@client.test", "birthday": "1980-06-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )  # fmt: skip
    assert run_cli("run", "--workspace", ws, "--now", "2026-06-09T08:00:00+00:00").exit_code == 0
    rest = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()  # a provider's: real time
    with sqlite3.connect(ws / "outreach.db") as db:  # the channel rests: recorded, not sent
        db.execute("INSERT INTO channel_pauses VALUES ('email', ?, '')", (rest,))
    run_cli("run", "--workspace", ws, "--now", DUE)
    assert mailbox.rcpt == [] and len(history(ws, "--status", "pending")) == 2
    contacts = ws / "data" / "contacts.csv"
    contacts.write_text(
        contacts.read_text().replace("ann@old.test", "ann@new.test").replace("bo@client.test", "")
    )
    with sqlite3.connect(ws / "outreach.db") as db:  # the rest is over
        db.execute("DELETE FROM channel_pauses")

    run_cli("run", "--workspace", ws, "--now", "2026-06-10T10:31:00+00:00")

    assert mailbox.rcpt == ["ann@new.test"], "to the new address; none while there is none"
    (ann,) = history(ws, "--contact", "c-1")
    assert ann["details"]["to"] == "ann@new.test"
    (bo,) = history(ws, "--contact", "c-2")
    assert bo["status"] == "pending", "it waits for an address"


@pytest.mark.parametrize(
    "target",
    ["outreach.yaml", "outreach.db", "data/contacts.csv", "rules/x.yaml", "out/tasks.jsonl"],
)
def test_out_never_overwrites_a_file_the_workspace_uses(tmp_path: Path, target: str) -> None:
    ws = make_workspace(tmp_path / "ws", rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    assert run_cli("run", "--workspace", ws, "--now", DUE).exit_code == 0  # the store
    before = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}
    result = run_cli("preview", "--workspace", ws, "--now", DUE, "--out", target, cwd=ws)
    assert result.exit_code == 2 and "which the workspace uses" in result.stderr
    assert {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "environment", [{"TZ": ":/proc/self/environ"}, {"PYTHONIOENCODING": "ascii"}]
)
def test_a_hostile_environment_is_no_traceback(tmp_path: Path, environment: dict) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "first_name": "Þórunn ✓", "birthday": "1980-06-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    for command in (["preview", "--now", DUE], ["explain", "c-1", "--now", DUE]):
        done = subprocess.run(
            [sys.executable, "-m", "outreach", *command, "--workspace", str(ws)],
            capture_output=True, timeout=120, env={**os.environ, **environment}, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert b"Traceback" not in done.stderr and b"c-1" in done.stdout


def test_an_error_of_a_rule_whose_file_does_not_load_just_now_stays(tmp_path: Path) -> None:
    rule = BIRTHDAY_RULE.replace("    action:", '    when: "contact.score <= 6"\n    action:')
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "email": "a@client.test", "birthday": "1980-06-10", "score": "3"}],
        rules={"notes.yaml": rule},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    run_cli("run", "--workspace", ws, "--now", DUE)
    assert len(history(ws, "--status", "error")) == 1
    (ws / "rules" / "notes.yaml").write_text("rules:\n  - id: [\n")  # being edited, say
    run_cli("run", "--workspace", ws, "--now", DUE)
    assert len(history(ws, "--status", "error")) == 1, "still told, while the file is broken"
