"""Where outreach writes — the SQLite store and file sinks — stays inside the workspace, unless
outreach.yaml's `outside_workspace:` allows a folder: refused at the setting's line by
`validate`, refused again where the write happens, never written through a symbolic link."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import deep_merge, make_workspace, run_cli

DUE = "2026-06-10T10:00:00+00:00"
TASK_RULE = """\
rules:
  - id: call
    trigger: {birthday: {}}
    action: {task: {template: call, assignee: anna@acme.test}}
    schedule: {at: "09:00", late_by_at_most: 2d}
"""
TEMPLATE = "{% block subject %}Call {{ contact.first_name }}{% endblock %}"


def _workspace(root: Path, **config: Any) -> Path:
    (root / "outside").mkdir(parents=True, exist_ok=True)
    sinks = {"email": None, "tasks": {"provider": "file", "path": "out/tasks.jsonl"}}
    return make_workspace(
        root / "ws",
        config=deep_merge({"channels": sinks}, config),
        contacts=[{"id": "c-1", "first_name": "Ada", "birthday": "1980-06-10"}],
        rules={"tasks.yaml": TASK_RULE},
        templates={"call.j2": TEMPLATE},
    )


OUTSIDE = {
    "channels": {
        "tasks": {"provider": "file", "path": "../outside/tasks.jsonl"},
        "gifts": {"provider": "file", "path": "{outside}/gifts.jsonl"},
    },
    "store": "sqlite:///../outside/outreach.db",
}


def _outside_config(root: Path) -> dict[str, Any]:
    return json.loads(json.dumps(OUTSIDE).replace("{outside}", str(root / "outside")))


def _located(stderr: str, setting: str) -> bool:
    return any(
        re.match(rf"outreach.yaml:\d+:\d+: {re.escape(setting)}: .*outside the workspace", line)
        for line in stderr.splitlines()
    )


def test_validate_refuses_writes_outside_at_their_settings(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, **_outside_config(tmp_path))

    result = run_cli("validate", "--workspace", ws, cwd=ws)

    assert result.exit_code == 1
    for setting in ("store", "channels.tasks.path", "channels.gifts.path"):
        assert _located(result.stderr, setting), result.stderr
    assert "outside_workspace" in result.stderr, "the message names the setting that allows it"


def test_run_writes_nothing_outside_without_the_setting(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, **_outside_config(tmp_path))

    result = run_cli("run", "--workspace", ws, "--now", DUE)

    assert result.exit_code == 1
    assert "Error: store " in result.stderr and "outside the workspace" in result.stderr
    assert list((tmp_path / "outside").iterdir()) == []


def test_with_outside_workspace_the_store_and_sinks_may_be_there(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, **_outside_config(tmp_path), outside_workspace=["../outside"])

    validated = run_cli("validate", "--workspace", ws)
    ran = run_cli("run", "--workspace", ws, "--now", DUE)

    assert validated.exit_code == 0, validated.stderr
    assert ran.exit_code == 0, ran.stderr
    assert (tmp_path / "outside/outreach.db").is_file()
    (task,) = (tmp_path / "outside/tasks.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(task)["key"] == "call:c-1:2026"
    assert not (ws / "outreach.db").exists()


@pytest.mark.parametrize("linked", ["out/tasks.jsonl", "out"])
def test_a_sink_is_never_written_through_a_link_out_of_the_workspace(
    tmp_path: Path, linked: str
) -> None:
    ws = _workspace(tmp_path)
    target = tmp_path / "outside" / Path(linked).name
    if linked == "out":
        target.mkdir()
    else:
        target.touch()
        (ws / "out").mkdir()
    (ws / linked).symlink_to(target)

    validated = run_cli("validate", "--workspace", ws, cwd=ws)
    ran = run_cli("run", "--workspace", ws, "--now", DUE)

    assert _located(validated.stderr, "channels.tasks.path"), validated.stderr
    assert ran.exit_code == 1
    assert "channels.tasks.path" in ran.stdout + ran.stderr
    assert [p for p in (tmp_path / "outside").rglob("*") if p.is_file() and p.stat().st_size] == []
    history = json.loads(run_cli("history", "--workspace", ws, "--format", "json").stdout)
    assert [row["status"] for row in history] == ["pending"], "not sent: still to go"


@pytest.mark.parametrize("name", ["outreach.db", "outreach.db-wal", "outreach.db-journal"])
def test_a_store_is_never_opened_through_a_link_out_of_the_workspace(
    tmp_path: Path, name: str
) -> None:
    ws = _workspace(tmp_path)
    target = tmp_path / "outside" / name
    target.touch()
    (ws / name).symlink_to(target)

    validated = run_cli("validate", "--workspace", ws, cwd=ws)
    ran = run_cli("run", "--workspace", ws, "--now", DUE)

    assert _located(validated.stderr, "store"), validated.stderr
    assert ran.exit_code == 1
    assert f"leads to {target}" in ran.stderr
    assert target.stat().st_size == 0
