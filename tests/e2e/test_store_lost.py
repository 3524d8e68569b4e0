"""Losing the store never resends everything (issue 9, item 10): the workspace records which
store it uses, a store deleted or replaced is refused until a person restores it or starts
over with --new-store, a store that vanishes mid-run stops the sending at once, and in-memory
stores are for dry runs only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from helpers import BIRTHDAY_TEMPLATE, make_workspace, run_cli

NOW = "2026-06-01T10:00:00+00:00"  # the birthdays below are due at 09:00 that day
RULE = """\
rules:
  - id: birthday-note
    trigger: {birthday: {}}
    action: {email: {template: birthday}}
    schedule: {at: "09:00", late_by_at_most: 2d}
"""
PEOPLE = [
    {"id": f"c-{n}", "first_name": f"P{n}", "email": f"p{n}@client.test", "birthday": "1980-06-01"}
    for n in range(5)
]


class DeletesTheStore:
    """An SMTP server that takes messages, and deletes the store when the first arrives."""

    def __init__(self, store: Path) -> None:
        self.store, self.received = store, 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        if self.received == 1:
            self.store.unlink()
        return "250 OK"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[DeletesTheStore, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    handler = DeletesTheStore(tmp_path / "ws/outreach.db")
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def email_workspace(root: Path, port: int) -> Path:
    email = {"provider": "smtp", "host": "127.0.0.1", "port": port, "security": "none"}
    return make_workspace(
        root,
        config={"channels": {"email": email}},
        contacts=PEOPLE,
        rules={"notes.yaml": RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


def test_a_store_deleted_mid_run_stops_it_and_the_next_run_refuses(
    tmp_path: Path, smtp: tuple[DeletesTheStore, int]
) -> None:
    server, port = smtp
    ws = email_workspace(tmp_path / "ws", port)
    result = run_cli("run", "--workspace", ws, "--now", NOW)
    assert result.exit_code == 1
    assert "outreach.db was deleted while outreach worked on it" in result.stderr
    assert server.received == 1  # nothing more went

    again = run_cli("run", "--workspace", ws, "--now", NOW)
    assert again.exit_code == 1
    assert "does not exist, but this workspace has used store" in again.stderr
    assert "--new-store" in again.stderr
    assert not (ws / "outreach.db").exists()  # refused before making a new, empty one
    assert server.received == 1

    anew = run_cli("run", "--workspace", ws, "--now", NOW, "--new-store")
    assert anew.exit_code == 0, anew.output
    assert server.received == 6  # started over, as asked: all five again
    assert run_cli("run", "--workspace", ws, "--now", NOW).exit_code == 0


def test_a_replaced_store_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert run_cli("run", "--workspace", ws, "--now", NOW).exit_code == 0
    recorded = json.loads((ws / ".outreach/store.json").read_text())["store_id"]
    other = make_workspace(tmp_path / "other")
    assert run_cli("run", "--workspace", other, "--now", NOW).exit_code == 0
    for suffix in ("", "-wal", "-shm"):  # another store's files take the place of ours
        (ws / f"outreach.db{suffix}").unlink(missing_ok=True)
        if (other / f"outreach.db{suffix}").exists():
            shutil.copy(other / f"outreach.db{suffix}", ws / f"outreach.db{suffix}")

    for command in (["run"], ["feeds", "scan"], ["queue", "approve", "--all"]):
        result = run_cli(*command, "--workspace", ws)
        assert result.exit_code == 1, (command, result.output)
        assert "is not the store this workspace has used" in result.stderr
        assert recorded in result.stderr
    daemon = run_cli("daemon", "--workspace", ws)
    assert daemon.exit_code == 1 and "is not the store this workspace has used" in daemon.stderr

    assert run_cli("run", "--workspace", ws, "--new-store").exit_code == 0
    adopted = json.loads((ws / ".outreach/store.json").read_text())["store_id"]
    assert adopted == json.loads((other / ".outreach/store.json").read_text())["store_id"]


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:mem?mode=memory&uri=true"]
)
def test_an_in_memory_store_is_for_dry_runs_only(tmp_path: Path, url: str) -> None:
    ws = make_workspace(tmp_path, config={"store": url}, contacts=PEOPLE,
                        rules={"notes.yaml": RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    for command in (["run"], ["daemon"], ["history"], ["status"], ["queue", "list"]):
        result = run_cli(*command, "--workspace", ws)
        assert result.exit_code == 1, (command, result.output)
        assert "is an in-memory database" in result.stderr, command
        assert "Traceback" not in result.output
    preview = run_cli("preview", "--workspace", ws, "--now", NOW, "--format", "json")
    assert preview.exit_code == 0, preview.output
    assert len(json.loads(preview.stdout)) == 5
    assert run_cli("explain", "c-1", "--workspace", ws, "--now", NOW).exit_code == 0
    assert run_cli("validate", "--workspace", ws).exit_code == 0


def test_a_daemon_whose_store_vanishes_stops_sending_and_says_why(tmp_path: Path) -> None:
    moment = datetime.now(UTC) - timedelta(minutes=5)
    rule = RULE.replace("09:00", f"{moment:%H:%M}").replace(
        "{email: {template: birthday}}", "{task: {template: birthday, assignee: am@acme.test}}"
    )
    people = [{**p, "birthday": f"1980-{moment:%m-%d}"} for p in PEOPLE[:1]]
    ws = make_workspace(tmp_path, contacts=people, rules={"notes.yaml": rule},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OUTREACH_WORKSPACE"}
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(ws)]
    command += ["--dispatch-every", "1", "--plan-every", "2", "--log-format", "json"]
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        tasks = ws / "out/tasks.jsonl"
        while not (tasks.exists() and tasks.read_text()):
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        (ws / "outreach.db").unlink()
        assert daemon.wait(timeout=60) == 1
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("was deleted while outreach worked on it" in line["message"] for line in lines)
    assert not (ws / "outreach.db").exists()
    refused = run_cli("daemon", "--workspace", ws)
    assert refused.exit_code == 1 and "does not exist" in refused.stderr


def test_a_store_lost_with_its_record_is_refused_when_the_sinks_show_sends(
    tmp_path: Path,
) -> None:
    """`git clean -fdX` takes the store and `.outreach/` alike: the gift written before
    still says that this workspace has sent, so a new, empty store is refused."""
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[{**PEOPLE[0], "address_line1": "Main St 1", "city": "Reykjavík"}],
        rules={"gifts.yaml": RULE.replace("email: {template: birthday}", "gift: {item: Pen}")
               + "    approval: auto\n"},
    )  # fmt: skip
    assert run_cli("run", "--workspace", ws, "--now", NOW).exit_code == 0
    gifts = (ws / "out" / "gift-tasks.jsonl").read_text()
    assert gifts.count("\n") == 1
    (ws / "outreach.db").unlink()
    shutil.rmtree(ws / ".outreach")

    again = run_cli("run", "--workspace", ws, "--now", NOW)

    assert again.exit_code == 1 and "holds what it sent before" in again.stderr
    assert (ws / "out" / "gift-tasks.jsonl").read_text() == gifts, "nothing sent again"
    assert run_cli("run", "--workspace", ws, "--now", NOW, "--new-store").exit_code == 0
