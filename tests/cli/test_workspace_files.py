"""Hostile files in a workspace: a FIFO, a link to /dev/zero, to /proc/self/environ or out of
the workspace, a folder named like a file, a file over its size cap — as a rule file, a
template, each data file, a feed file and outreach.yaml. Each is one located error, read
without hanging (commands run in a subprocess with a timeout) and without leaking a secret
from the environment; the rest of the workspace is still planned."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, NOW, csv_text, make_workspace, run_cli

SECRET = "sg-7f3e-not-for-anyone"
ENV = {"SENDGRID_API_KEY": SECRET, "SMTP_PASSWORD": SECRET}
CONTACTS = [
    {"id": "c-1", "first_name": "Ada", "email": "ada@example.test", "birthday": "1985-06-10"},
]
PURCHASE = {
    "id": "p-1",
    "contact_id": "c-1",
    "date": "2026-01-02",
    "amount": "10",
    "currency": "EUR",
}

# What a sound file holds in each place, so that a link leading out of the workspace to one
# would be read and used if it were followed.
SOUND = {
    "rules/extra.yaml": BIRTHDAY_RULE.replace("birthday-note", "outside-note"),
    "templates/extra.j2": BIRTHDAY_TEMPLATE,
    "data/contacts.csv": csv_text(CONTACTS),
    "data/purchases.csv": csv_text([PURCHASE]),
    "data/suppressions.csv": "email\nsomeone@example.test\n",
    "data/companies.yaml": "companies:\n  - {id: acme, name: Acme}\n",
    "data/feeds.yaml": "feeds: []\n",
}
# One byte over each cap: rules 1 MB, templates 512 kB, CSV data files data.max_file_mb (1 GiB),
# companies 50 MB, feeds.yaml and outreach.yaml 2 MB, feed files network.max_feed_mb (10 MiB).
OVER_CAP = {
    "rules/extra.yaml": 1_000_001,
    "templates/extra.j2": 512_001,
    "data/contacts.csv": 1024**3 + 1,
    "data/purchases.csv": 1024**3 + 1,
    "data/suppressions.csv": 1024**3 + 1,
    "data/companies.yaml": 50_000_001,
    "data/feeds.yaml": 2_000_001,
    "outreach.yaml": 2_000_001,
    "data/news.xml": 10 * 1024 * 1024 + 1,
    "article.txt": 10 * 1024 * 1024 + 1,
}


def _fifo(path: Path, outside: Path, over_cap: int) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path, outside: Path, over_cap: int) -> None:
    path.symlink_to("/dev/zero")


def _environ(path: Path, outside: Path, over_cap: int) -> None:
    path.symlink_to("/proc/self/environ")


def _outside(path: Path, outside: Path, over_cap: int) -> None:
    path.symlink_to(outside)


def _folder(path: Path, outside: Path, over_cap: int) -> None:
    path.mkdir()
    (path / "inside").write_text("x", encoding="utf-8")


def _too_large(path: Path, outside: Path, over_cap: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(over_cap)  # sparse: its size says it all, nothing need be read


HOSTILE: dict[str, tuple[Callable[[Path, Path, int], None], str]] = {
    "fifo": (_fifo, "not a regular file (a FIFO)"),
    "dev-zero": (_dev_zero, "leads to /dev/zero, in /dev, where outreach never reads"),
    "environ": (_environ, "in /proc, where outreach never reads"),
    "outside": (_outside, "outside the workspace; move it into the workspace"),
    "folder": (_folder, "not a regular file (a folder)"),
    "too-large": (_too_large, "over the limit of"),
}


def _workspace(root: Path) -> Path:
    return make_workspace(
        root / "ws",
        contacts=CONTACTS,
        purchases=[PURCHASE],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


def _plant(ws: Path, place: str, kind: str) -> None:
    """Put a hostile file of `kind` at `place`; a sound copy of what belongs there waits
    outside the workspace."""
    outside = ws.parent / f"outside-{Path(place).name}"
    outside.write_text(SOUND.get(place, ""), encoding="utf-8")
    target = ws / place
    if target.exists() or target.is_symlink():
        target.unlink()
    HOSTILE[kind][0](target, outside, OVER_CAP[place])


def outreach(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, bounded: a hang fails the test, never the suite."""
    env = {**os.environ, **ENV}
    env.pop("OUTREACH_WORKSPACE", None)
    command = [sys.executable, "-m", "outreach", *args, "--workspace", str(ws)]
    try:
        return subprocess.run(
            command, cwd=ws, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`outreach {' '.join(args)}` hung")


def _refused(done: subprocess.CompletedProcess[str], place: str, expected: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"{place}:")]
    assert any(expected in line for line in lines), done.stderr
    assert SECRET not in done.stdout + done.stderr


PLACES = [
    "rules/extra.yaml",
    "templates/extra.j2",
    "data/purchases.csv",
    "data/suppressions.csv",
    "data/companies.yaml",
    "data/feeds.yaml",
]


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("place", PLACES)
def test_a_hostile_file_is_one_located_error_and_the_rest_is_planned(
    tmp_path: Path, place: str, kind: str
) -> None:
    ws = _workspace(tmp_path)
    _plant(ws, place, kind)

    done = outreach(ws, "preview", "--now", NOW, "--days", "30", "--format", "json")

    _refused(done, place, HOSTILE[kind][1])
    plan = json.loads(done.stdout)
    assert [(d["rule"], d["contact"], d["status"]) for d in plan] == [
        ("birthday-note", "c-1", "planned")
    ]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_contacts_file_is_a_located_error_not_a_hang(tmp_path: Path, kind: str) -> None:
    ws = _workspace(tmp_path)
    _plant(ws, "data/contacts.csv", kind)

    done = outreach(ws, "validate")

    _refused(done, "data/contacts.csv", HOSTILE[kind][1])


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_outreach_yaml_is_refused_with_its_reason(tmp_path: Path, kind: str) -> None:
    ws = _workspace(tmp_path)
    (ws.parent / "outside-outreach.yaml").write_bytes((ws / "outreach.yaml").read_bytes())
    _plant(ws, "outreach.yaml", kind)

    done = outreach(ws, "validate")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: outreach.yaml: ")
    assert HOSTILE[kind][1].split(";")[0] in line
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_feed_file_is_that_feeds_error(tmp_path: Path, kind: str) -> None:
    ws = _workspace(tmp_path)
    feeds = "feeds:\n  - {url: data/news.xml}\n  - {url: data/sound.xml}\n"
    (ws / "data/feeds.yaml").write_text(feeds, encoding="utf-8")
    rss = "<rss version='2.0'><channel><title>t</title></channel></rss>"
    (ws / "data/sound.xml").write_text(rss, encoding="utf-8")
    _plant(ws, "data/news.xml", kind)

    done = outreach(ws, "feeds", "scan", "--dry-run")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert HOSTILE[kind][1] in said  # at feeds.yaml's line, or as the feed's error
    assert "data/sound.xml │ fetched" in said
    assert SECRET not in done.stdout + done.stderr


def test_a_template_linked_to_the_environment_leaks_nothing_anywhere(tmp_path: Path) -> None:
    """The template a task rule writes is a link to /proc/self/environ: neither the preview,
    the sink the task would be written to, nor the store may hold the secret."""
    task_rule = (
        "rules:\n  - id: note-task\n    trigger: {birthday: {}}\n"
        "    action: {task: {template: leak}}\n    schedule: {late_by_at_most: 30d}\n"
    )
    ws = _workspace(tmp_path)
    (ws / "rules/tasks.yaml").write_text(task_rule, encoding="utf-8")
    (ws / "templates/leak.j2").symlink_to("/proc/self/environ")
    config = (ws / "outreach.yaml").read_text(encoding="utf-8")
    (ws / "outreach.yaml").write_text(config + "outside_workspace: [/]\n")  # even so

    previewed = outreach(ws, "preview", "--now", NOW, "--days", "30", "--format", "json")
    ran = outreach(ws, "run", "--now", "2026-06-10T12:00:00+00:00")

    _refused(previewed, "templates/leak.j2", "in /proc, where outreach never reads")
    _refused(ran, "templates/leak.j2", "in /proc, where outreach never reads")
    written = [p.read_bytes() for p in ws.rglob("*") if p.is_file() and not p.is_symlink()]
    assert written, "the run wrote its store"
    assert not any(SECRET.encode() in content for content in written)


@pytest.mark.parametrize("allowed", [False, True])
def test_data_outside_the_workspace_is_read_only_from_an_allowed_folder(
    tmp_path: Path, allowed: bool
) -> None:
    ws = _workspace(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (ws / "data/contacts.csv").rename(shared / "contacts.csv")
    config = (ws / "outreach.yaml").read_text(encoding="utf-8")
    config = config.replace("data/contacts.csv", str(shared / "contacts.csv"))
    config += "outside_workspace: [../shared]\n" if allowed else ""
    (ws / "outreach.yaml").write_text(config, encoding="utf-8")

    done = outreach(ws, "preview", "--now", NOW, "--days", "30", "--format", "json")

    if allowed:
        assert done.returncode == 0, done.stderr
        assert [d["contact"] for d in json.loads(done.stdout)] == ["c-1"]
    else:
        _refused(done, str(shared / "contacts.csv"), "outside the workspace")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
@pytest.mark.parametrize("option", ["--text", "--feed"])
def test_mentions_of_a_file_that_is_no_file_is_an_error_not_a_hang(
    tmp_path: Path, kind: str, option: str
) -> None:
    ws = _workspace(tmp_path)
    _plant(ws, "article.txt", kind)

    done = outreach(ws, "mentions", option, str(ws / "article.txt"))

    assert done.returncode in (1, 2), done.stderr  # 2: click itself refuses a folder
    assert "Traceback" not in done.stderr, done.stderr


# --- YAML no parser survives: a located problem for that file --------------------------------

HOSTILE_YAML = {
    "5000-digit-int": ("x: " + "9" * 5_000, "too large a number"),
    "huge-float": ("x: 1.0e999", "too large a number"),
    "bad-date": ("x: 2026-02-30", "is not a valid date"),
    "deep-list": ("x: " + "[" * 10_000 + "]" * 10_000, "nest"),
    "deep-alias": ("x: &a " + "[" * 500 + "]" * 500 + "\ny: *a", "nested more than"),
    "tagged-bool": ("x: !!bool perhaps", "is not a valid true or false"),
}
YAML_FILES = {
    "rules/extra.yaml": "rules:\n  - id: extra\n    {}\n",
    "data/companies.yaml": "companies:\n  - id: acme\n    name: Acme\n    extra:\n      {}\n",
    "data/feeds.yaml": "feeds:\n  - url: https://news.example/rss\n    {}\n",
    "outreach.yaml": "timezone: UTC\n{}\n",
}


@pytest.mark.parametrize("value", HOSTILE_YAML)
@pytest.mark.parametrize("place", YAML_FILES)
def test_a_yaml_value_no_parser_survives_is_located(tmp_path: Path, place: str, value: str) -> None:
    ws = _workspace(tmp_path)
    text, says = HOSTILE_YAML[value]
    indent = " " * (6 if "companies" in place else 4 if place != "outreach.yaml" else 0)
    body = text.replace("\n", "\n" + indent)
    (ws / place).write_text(YAML_FILES[place].format(body), encoding="utf-8")

    result = run_cli(
        "preview", "--workspace", ws, "--now", NOW, "--days", "30", "--format", "json", cwd=ws
    )

    assert result.exit_code == 1, result.stderr
    located = rf"(Error: )?{re.escape(place)}:\d+:\d+: .*{re.escape(says)}"
    assert any(re.match(located, line) for line in result.stderr.splitlines()), result.stderr
    if place != "outreach.yaml":  # the rest of the workspace is still planned
        plan = json.loads(result.stdout)
        assert [(d["rule"], d["status"]) for d in plan] == [("birthday-note", "planned")]


def test_the_daemon_starts_watches_and_stops_beside_hostile_files(tmp_path: Path) -> None:
    """A FIFO rule file and template and a link to /dev/zero: the daemon logs each, keeps
    watching (an edit is taken) and stops on SIGTERM."""
    ws = _workspace(tmp_path)
    _plant(ws, "rules/extra.yaml", "fifo")
    _plant(ws, "templates/extra.j2", "fifo")
    (ws / "templates/zero.j2").symlink_to("/dev/zero")
    env = {**os.environ, **ENV}
    env.pop("OUTREACH_WORKSPACE", None)
    log = tmp_path / "daemon.log"
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(ws)]
    command += ["--watch-every", "0.5", "--log-format", "json"]
    with log.open("w") as out:
        daemon = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=ws)
    try:
        _wait_for(lambda: "daemon started" in log.read_text(encoding="utf-8"))
        (ws / "rules/notes.yaml").write_text(BIRTHDAY_RULE.replace("09:00", "10:00"))
        _wait_for(lambda: "reloaded" in log.read_text(encoding="utf-8"))
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    said = log.read_text(encoding="utf-8")
    assert "rules/extra.yaml: not a regular file (a FIFO)" in said
    assert "templates/extra.j2: cannot use template: not a regular file (a FIFO)" in said
    assert "Traceback" not in said and SECRET not in said


def _wait_for(condition: Callable[[], bool], seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.2)
