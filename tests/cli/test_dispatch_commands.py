"""`run`, `queue`, `history` and `send-test` as a user types them, against the local SendGrid
server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_sendgrid import FakeSendGrid, Reply
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, run_cli

DUE = "2026-06-10T10:00:00+00:00"

GIFT_RULE = """\
rules:
  - id: birthday-gift
    trigger:
      birthday: {}
    action:
      gift: {item: Pencil, budget: {amount: 10, currency: EUR}, card: card}
    schedule: {at: "09:00", late_by_at_most: 2d}
"""


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path, server: FakeSendGrid) -> Path:
    email = {"provider": "sendgrid", "from": "Acme <hello@acme.test>", "host": server.url,
             "port": None}  # fmt: skip
    contacts = [
        {"id": f"c-{i}", "first_name": name, "email": f"{name.lower()}@client.test",
         "birthday": "1980-06-10", "address_line1": "Main St 1", "city": "Reykjavík"}
        for i, name in enumerate(["Ada", "Grace", "Edsger"], start=1)
    ]  # fmt: skip
    contacts[2]["opted_out"] = "true"
    return make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": email}},
        contacts=contacts,
        rules={"notes.yaml": BIRTHDAY_RULE, "gifts.yaml": GIFT_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "card.j2": "{% block text %}Hi{% endblock %}"},
    )


def outreach(server: FakeSendGrid, *args: str | Path) -> object:
    return run_cli(*args, env={"SENDGRID_API_KEY": server.api_key})


def history(workspace: Path, *args: str) -> list[dict]:
    result = run_cli("history", "--workspace", workspace, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_run_sends_what_is_due_once_and_holds_gifts_for_approval(
    server: FakeSendGrid, workspace: Path
) -> None:
    first = outreach(server, "run", "--workspace", workspace, "--now", DUE)
    assert first.exit_code == 0, first.stderr
    assert "recorded 4 new: 2 needs_approval, 2 pending" in first.stdout
    assert "dispatched 2: 2 sent" in first.stdout
    again = outreach(server, "run", "--workspace", workspace, "--now", DUE)
    assert "recorded 0 new" in again.stdout and "dispatched 0" in again.stdout
    assert sorted(server.accepted_keys()) == ["birthday-note:c-1:2026", "birthday-note:c-2:2026"]
    assert server.seen("birthday-note:c-3:2026") == 0  # opted out
    sent = history(workspace, "--status", "sent")
    assert {row["contact"] for row in sent} == {"c-1", "c-2"}
    assert all(row["provider_id"] and row["channel"] == "email" for row in sent)


def test_approving_a_gift_lets_it_go_at_the_next_run(server: FakeSendGrid, workspace: Path) -> None:
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    listed = run_cli("queue", "list", "--workspace", workspace, "--format", "json")
    waiting = [row["key"] for row in json.loads(listed.stdout)]
    assert waiting == ["birthday-gift:c-1:2026", "birthday-gift:c-2:2026"]
    approved = run_cli("queue", "approve", "birthday-gift:c-1:2026", "--workspace", workspace)
    assert approved.exit_code == 0 and "needs_approval -> pending" in approved.stdout
    rejected = run_cli("queue", "reject", "birthday-gift:c-2:2026", "--workspace", workspace)
    assert rejected.exit_code == 0
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    gifts = (workspace / "out/gift-tasks.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in gifts] == ["birthday-gift:c-1:2026"]
    statuses = {row["key"]: row["status"] for row in history(workspace)}
    assert statuses["birthday-gift:c-1:2026"] == "sent"
    assert statuses["birthday-gift:c-2:2026"] == "rejected"


def test_approve_all_of_one_rule(server: FakeSendGrid, workspace: Path) -> None:
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    result = run_cli(
        "queue", "approve", "--all", "--rule", "birthday-gift", "--workspace", workspace
    )
    assert result.exit_code == 0 and result.stdout.count("ok:") == 2
    assert history(workspace, "--status", "needs_approval") == []


def test_queue_commands_say_what_they_could_not_do(server: FakeSendGrid, workspace: Path) -> None:
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    result = run_cli("queue", "approve", "birthday-note:c-1:2026", "nope", "--workspace", workspace)
    assert result.exit_code == 1
    assert "birthday-note:c-1:2026: it is sent, not needs_approval" in result.stdout
    assert "nope: no such key in the outbox" in result.stdout
    usage = run_cli("queue", "approve", "--workspace", workspace)
    assert usage.exit_code == 2


def test_a_dead_email_can_be_sent_again_by_a_person(server: FakeSendGrid, workspace: Path) -> None:
    server.script(Reply(400, body={"errors": [{"message": "invalid to", "field": "to"}]}))
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    (dead,) = history(workspace, "--status", "dead")
    assert dead["error"] == "SendGrid 400: invalid to (field to)"
    retried = run_cli("queue", "retry", dead["key"], "--workspace", workspace)
    assert retried.exit_code == 0
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    assert server.seen(dead["key"]) == 1
    assert history(workspace, "--status", "dead") == []


def test_history_filters_by_contact_and_status(server: FakeSendGrid, workspace: Path) -> None:
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    assert {row["key"] for row in history(workspace, "--contact", "c-1")} == {
        "birthday-note:c-1:2026",
        "birthday-gift:c-1:2026",
    }
    bad = run_cli("history", "--workspace", workspace, "--status", "sentt")
    assert bad.exit_code == 2 and "no status sentt" in bad.stderr


def test_history_before_any_run_says_nothing_yet(workspace: Path) -> None:
    result = run_cli("history", "--workspace", workspace)
    assert result.exit_code == 0 and "history: nothing" in result.stderr
    assert not (workspace / "outreach.db").exists()  # reading creates no store


def test_a_missing_api_key_leaves_emails_waiting_and_says_so(workspace: Path) -> None:
    result = run_cli("run", "--workspace", workspace, "--now", DUE, env={"SENDGRID_API_KEY": ""})
    assert result.exit_code == 1
    assert "email: cannot send (the environment variable SENDGRID_API_KEY is not set)" in (
        result.stdout
    )
    assert {row["status"] for row in history(workspace, "--rule", "birthday-note")} == {"pending"}


def test_run_json(server: FakeSendGrid, workspace: Path) -> None:
    result = outreach(server, "run", "--workspace", workspace, "--now", DUE, "--format", "json")
    report = json.loads(result.stdout)
    assert report["dispatched"] == {"sent": 2}
    assert report["waiting"] == {"needs_approval": 2}


def test_send_test_renders_the_real_note_to_you(server: FakeSendGrid, workspace: Path) -> None:
    result = outreach(
        server, "send-test", "birthday-note", "c-1", "--to", "me@acme.test",
        "--workspace", workspace, "--now", "2026-05-01T08:00:00+00:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (body,) = server.accepted
    assert body["personalizations"][0]["to"] == [{"email": "me@acme.test"}]
    assert body["subject"] == "[test] Happy birthday, Ada!"
    assert not (workspace / "outreach.db").exists()  # nothing recorded


def test_send_test_of_a_gift_mails_its_card(server: FakeSendGrid, workspace: Path) -> None:
    result = outreach(
        server, "send-test", "birthday-gift", "c-2", "--to", "me@acme.test",
        "--workspace", workspace, "--now", DUE,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (body,) = server.accepted
    assert body["subject"] == "[test] Pencil for Grace"  # by name: no contact id in a header
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "c-1", "--to", "me@acme.test"], "no rule 'nope'"),
        (["birthday-note", "c-9", "--to", "me@acme.test"], "no contact 'c-9'"),
        (["birthday-note", "c-1", "--to", "not an address"], "is not an address to send to"),
    ],
)
def test_send_test_usage(
    server: FakeSendGrid, workspace: Path, args: list[str], message: str
) -> None:
    result = outreach(server, "send-test", *args, "--workspace", workspace)
    assert result.exit_code == 2 and message in result.stderr


def test_preview_after_a_run_leaves_out_what_is_done(server: FakeSendGrid, workspace: Path) -> None:
    outreach(server, "run", "--workspace", workspace, "--now", DUE)
    run_cli("queue", "approve", "birthday-gift:c-1:2026", "--workspace", workspace)
    result = run_cli("preview", "--workspace", workspace, "--now", DUE, "--format", "json")
    shown = {row["key"]: row["status"] for row in json.loads(result.stdout)}
    assert "birthday-note:c-1:2026" not in shown  # sent
    assert shown["birthday-gift:c-1:2026"] == "planned"  # approved
    assert shown["birthday-gift:c-2:2026"] == "needs_approval"


def test_run_refuses_a_future_now(workspace: Path) -> None:
    result = run_cli("run", "--workspace", workspace, "--now", "2999-01-01T00:00:00+00:00")
    assert result.exit_code == 2 and "--now is in the future" in result.stderr
    assert not (workspace / "outreach.db").exists()


def test_a_refused_key_makes_run_exit_1(server: FakeSendGrid, workspace: Path) -> None:
    result = run_cli(
        "run", "--workspace", workspace, "--now", DUE, env={"SENDGRID_API_KEY": "SG.wrong"}
    )
    assert result.exit_code == 1
    assert "email: paused until" in result.stdout and "SendGrid 401" in result.stdout
    # on the workspace's clock, with its offset, to the second: one convention for times
    assert re.search(r"paused until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}: ", result.stdout)
    assert "SG.wrong" not in result.stdout + result.stderr
