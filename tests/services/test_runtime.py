"""The daemon's runtime without the scheduler: reloads and the single-daemon lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, csv_text, make_workspace

from outreach.adapters.processes import Worker
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


def rule_ids(runtime: Runtime) -> list[str]:
    return [rule.id for rule in runtime.workspace.engine.rules]


def test_nothing_changed_nothing_reloaded(runtime: Runtime) -> None:
    assert runtime.watch() is False


def test_a_sound_edit_takes_over(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    assert runtime.watch() is True
    assert rule_ids(runtime) == ["birthday-note"]


def test_a_broken_rule_keeps_the_last_good_rules_but_takes_the_data(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules:\n  - id: [\n")
    edit(runtime.root / "data/contacts.csv", csv_text([{"id": "c-1"}, {"id": "c-2"}]))
    assert runtime.watch() is True
    assert rule_ids(runtime) == ["birthday-note", "second-note"]
    assert sorted(runtime.workspace.data.contacts) == ["c-1", "c-2"]


def test_a_broken_outreach_yaml_keeps_everything(runtime: Runtime) -> None:
    edit(runtime.root / "rules/b.yaml", "rules: []\n")
    edit(runtime.root / "outreach.yaml", "timezone: Mars/Olympus\n")
    assert runtime.watch() is False
    assert rule_ids(runtime) == ["birthday-note", "second-note"]
    assert runtime.workspace.config.timezone == "UTC"


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
