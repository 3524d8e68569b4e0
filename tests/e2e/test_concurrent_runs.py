"""Running `outreach run` twice, or two `outreach run` at once, sends nothing twice.

Two runs start at the same moment on one workspace (100 birthday emails to the local SendGrid
fake, 10 gifts to the file sink): one records the plan while the other waits for the write
lock and then finds every row already there; both dispatch, and a row is claimed by exactly
one of them. A third run afterwards finds nothing to do.

In odd rounds the store exists before the two runs start (an earlier run, three weeks before
the birthdays, found nothing to do), as it does under cron; in even rounds the two runs create
it together (see also `test_a_store_being_created_is_waited_for`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fake_sendgrid import FakeSendGrid
from helpers import make_workspace, run_cli, sendgrid_channels

from outreach.adapters.store import SqlStore

NOW = "2026-06-10T10:00:00+00:00"
EARLIER = "2026-05-20T10:00:00+00:00"  # nothing due, nothing within two weeks: nothing recorded
EMAILS = 100
GIFT_EVERY = 10  # 10 gifts
ROUNDS = 3

RULES = """\
rules:
  - id: birthday-note
    trigger: {birthday: {}}
    action: {email: {template: birthday}}
    schedule: {at: "09:00", late_by_at_most: 2d}
  - id: birthday-gift
    trigger: {birthday: {}}
    when: "'gift' in contact.tags"
    action: {gift: {item: "Pencil", budget: {amount: 10, currency: EUR}, card: card}}
    schedule: {at: "09:00", late_by_at_most: 2d}
    approval: auto
"""
TEMPLATES = {
    "birthday.j2": "{% block subject %}Happy birthday, {{ contact.first_name }}!{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }},\n\nall the best.{% endblock %}\n",
    "card.j2": "{% block subject %}For {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, a pencil for your desk.{% endblock %}\n",
}


def build_workspace(root: Path, server: FakeSendGrid) -> Path:
    channels = sendgrid_channels(server.url)
    contacts = [
        {
            "id": f"c-{i:03d}",
            "first_name": f"Person{i}",
            "email": f"p{i}@example.test",
            "birthday": "06-10",
            "tags": "gift" if i % GIFT_EVERY == 0 else "",
            "address_line1": f"{i} Main Street",
            "city": "Reykjavík",
        }
        for i in range(EMAILS)
    ]
    return make_workspace(
        root,
        config={"channels": channels},
        contacts=contacts,
        rules={"birthdays.yaml": RULES},
        templates=TEMPLATES,
    )


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    pipe = subprocess.PIPE
    return subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, text=True)


def report(code: int, stdout: str, stderr: str) -> Any:
    """`outreach run --format json`'s report, after checking it exited 0."""
    assert code == 0, stderr
    return json.loads(stdout)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_runs_at_once_send_each_action_once(tmp_path: Path, round_: int) -> None:
    with FakeSendGrid() as server:
        server.latency = 0.002
        workspace = build_workspace(tmp_path / "ws", server)
        env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
        env.pop("OUTREACH_WORKSPACE", None)
        run = [sys.executable, "-m", "outreach", "run", "--workspace", str(workspace)]
        run += ["--format", "json"]
        if round_ % 2:
            earlier = subprocess.run(
                [*run, "--now", EARLIER], env=env, capture_output=True, text=True, check=False
            )
            assert report(earlier.returncode, earlier.stdout, earlier.stderr)["recorded"] == {}
        run += ["--now", NOW]

        both = [start(run, env), start(run, env)]  # at the same moment: both import, then race
        outputs = [process.communicate(timeout=180) for process in both]
        reports = [report(p.returncode, *out) for p, out in zip(both, outputs, strict=True)]
        again = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
        third = report(again.returncode, again.stdout, again.stderr)

        result = run_cli("history", "--workspace", workspace, "--format", "json")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        seen = server.accepted_keys()
        spec_errors, validating = list(server.spec_errors), server.validating

    emails = {r["key"] for r in rows if r["action"] == "email"}
    gifts = {r["key"] for r in rows if r["action"] == "gift"}
    lines = (workspace / "out" / "gifts.jsonl").read_text(encoding="utf-8").splitlines()
    written = Counter(json.loads(line)["key"] for line in lines)
    split = [dict(r["dispatched"]) for r in reports]
    print(
        f"\nround {round_}: recorded {[r['recorded'] for r in reports]}, "
        f"dispatched {split}, then {third['dispatched'] or 'nothing'}"
    )

    assert len(emails) == EMAILS and len(gifts) == EMAILS // GIFT_EVERY
    assert {r["status"] for r in rows} == {"sent"}
    assert seen == Counter(dict.fromkeys(emails, 1))
    assert written == Counter(dict.fromkeys(gifts, 1))
    # Each row recorded by one run and dispatched by one run; the run after finds nothing.
    assert sum(sum(r["recorded"].values()) for r in reports) == len(rows)
    assert sum(r["dispatched"].get("sent", 0) for r in reports) == len(rows), split
    assert third["recorded"] == {} and third["dispatched"] == {}
    if validating:
        assert spec_errors == []


def test_a_store_being_created_is_waited_for(tmp_path: Path) -> None:
    """The moment the race hits, made to last: a new SQLite file's first page is written in
    rollback-journal mode (also when a process switches a new file to WAL: that writes the
    header) under the write lock; a process opening the store meanwhile must wait for it, as
    it waits for any writer (busy_timeout), not fail."""
    creator = sqlite3.connect(
        tmp_path / "outreach.db", isolation_level=None, check_same_thread=False
    )
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE first_page (x)")
    finishing = threading.Timer(0.5, creator.execute, ["COMMIT"])
    finishing.start()
    started = time.monotonic()
    try:
        store = SqlStore.open("sqlite:///outreach.db", tmp_path)
    finally:
        finishing.join()
        creator.close()
    assert store is not None
    assert time.monotonic() - started < 10
