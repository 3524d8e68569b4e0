"""`run --now` pretends only to choose what is due: what is sent is recorded at the real time,
in `history` and in every time the store keeps of a send."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from helpers import BIRTHDAY_TEMPLATE, make_workspace, run_cli
from local_smtp import Mailbox

PRETEND = "2026-06-10T10:00:00+00:00"  # a birthday on 06-10 is due (09:00, within 2 days)
RULES = """\
rules:
  - id: note
    trigger:
      birthday: {}
    action:
      email: {template: birthday}
    schedule: {at: "09:00", late_by_at_most: 2d}
  - id: gift
    trigger:
      birthday: {}
    action:
      gift: {item: Pencil, card: card}
    schedule: {at: "09:00", late_by_at_most: 2d}
    approval: auto
"""


ADA = {"id": "c-1", "first_name": "Ada", "email": "ada@client.test", "birthday": "1980-06-10",
       "address_line1": "Main St 1", "city": "Reykjavík"}  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path, mailbox: Mailbox) -> Path:
    return make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}},
        contacts=[ADA],
        rules={"notes.yaml": RULES},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "card.j2": "{% block text %}Hi{% endblock %}"},
    )


def moment(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def test_a_run_in_the_past_records_its_sends_at_the_real_time(
    workspace: Path, mailbox: Mailbox
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)  # the store keeps whole seconds
    result = run_cli("run", "--workspace", workspace, "--now", PRETEND)
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.stderr

    shown = run_cli("history", "--workspace", workspace, "--format", "json")
    rows = {row["channel"]: row for row in json.loads(shown.stdout)}
    assert {row["status"] for row in rows.values()} == {"sent"}
    for row in rows.values():  # email over SMTP, the gift to its JSONL file
        assert before <= moment(row["sent_at"]) <= after
        assert moment(row["send_at"]) <= moment(PRETEND)  # when it was due: planning time

    with sqlite3.connect(workspace / "outreach.db") as db:
        stamps = db.execute("SELECT created_at, updated_at, sent_at FROM outbox").fetchall()
    assert len(stamps) == 2
    assert all(before <= moment(stamp) <= after for row in stamps for stamp in row)

    (envelope,) = mailbox.envelopes
    date = parsedate_to_datetime(str(envelope.message["Date"]))
    assert before.replace(microsecond=0) <= date <= after
