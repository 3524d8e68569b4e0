"""Nothing a client, a feed or a provider wrote breaks or hijacks what outreach prints: rich
markup in names, ids, subjects and feed titles is shown as written (never a MarkupError),
control characters (ESC sequences, BEL, C1, bidi overrides) are shown escaped, never emitted;
and a store or an output file outreach cannot use is one clear line, never a traceback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_sendgrid import FakeSendGrid
from helpers import BIRTHDAY_RULE, make_workspace, run_cli, sendgrid_channels

DUE = "2026-06-10T10:00:00+00:00"
HOSTILE = "[/x] [bold]\x1b[2J\x1b]0;owned\x07\u202eevil\x9b31m"
RAW = ["\x1b", "\x07", "\u202e", "\x9b"]
TASKS = {"provider": "file", "path": "out/tasks.jsonl"}
FEED = "feeds/news [bold].xml"

GIFT_RULE = """\
  - id: gift
    trigger: {birthday: {}}
    action: {gift: {item: "Pencil [/x]", card: card}}
"""
NEWS_RULE = """\
  - id: news
    trigger:
      news_mention: {keywords_any: [opens]}
    action:
      task: {template: congrats, assignee: am@acme.test}
"""
TEMPLATES = {
    "birthday.j2": "{% block subject %}Hi {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}{% endblock %}",
    "card.j2": "{% block text %}Hi {{ contact.first_name }}{% endblock %}",
    "congrats.j2": "{% block subject %}{{ occasion.entry.title }}{% endblock %}"
    "{% block text %}{{ occasion.entry.sentence }}{% endblock %}",
}
STORY = (
    f"Delta Cold Chain opens a refrigerated hub {HOSTILE.replace(chr(27), '').replace(chr(7), '')}"
)
RSS = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
    f"<title>{STORY}</title><link>https://n.test/a</link>"
    f"<description>{STORY}, the logistics firm said.</description>"
    "</item></channel></rss>"
)


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


def hostile_workspace(root: Path, sendgrid: FakeSendGrid) -> Path:
    people = [
        {"id": "c-[/x]", "first_name": f"Ada {HOSTILE}", "email": "ada@client.test",
         "birthday": "1980-06-10", "company_id": "delta", "address_line1": f"Main St {HOSTILE}",
         "city": "Reykjavík"},
        {"id": "c-2", "first_name": "Bob", "birthday": f"\x1b[31m1980-13-45{HOSTILE}"},
    ]  # fmt: skip
    company = {"id": "delta", "name": "Delta Cold Chain", "context": ["logistics"]}
    ws = make_workspace(
        root,
        config={"channels": {**sendgrid_channels(sendgrid.url), "tasks": TASKS}},
        contacts=people,
        companies=[company],
        feeds=[{"url": FEED, "language": "en"}],
        rules={"notes.yaml": BIRTHDAY_RULE + GIFT_RULE + NEWS_RULE},
        templates=TEMPLATES,
    )
    (ws / FEED).parent.mkdir()
    (ws / FEED).write_text(RSS, encoding="utf-8")
    return ws


COMMANDS = [
    ["validate"],
    ["preview", "--now", DUE],
    ["preview", "--now", DUE, "--format", "json"],
    ["preview", "--now", DUE, "--format", "html"],
    ["explain", "c-[/x]", "--now", DUE],
    ["explain", "c-[/x]", "--now", DUE, "--format", "json"],
    ["mentions", "--feed", FEED],
    ["mentions", "--feed", FEED, "--format", "json"],
    ["feeds", "scan"],
    ["run", "--now", DUE],
    ["history"],
    ["history", "--format", "json"],
    ["queue", "list"],
    ["status"],
    ["status", "--format", "json"],
]


def test_what_clients_and_feeds_wrote_is_printed_as_written_and_never_controls_the_terminal(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    ws = hostile_workspace(tmp_path / "ws", sendgrid)
    printed = {}
    for command in COMMANDS:
        where = ["--workspace", str(ws)]
        args = [*command[:2], *where, *command[2:]] if command[0] in ("feeds", "queue") else [
            command[0], *where, *command[1:]]  # fmt: skip
        result = run_cli(*args, cwd=ws, env={"SENDGRID_API_KEY": sendgrid.api_key})
        assert result.exit_code in (0, 1), (command, result.stdout, result.stderr)
        said = result.stdout + result.stderr
        assert not [raw for raw in RAW if raw in said], (command, said)
        printed[" ".join(command)] = said
    assert "1980-13-45" in printed["validate"] and "\\x1b[31m" in printed["validate"]
    for command in (f"preview --now {DUE}", f"explain c-[/x] --now {DUE}", "history", "queue list"):
        assert "c-[/x]" in printed[command], printed[command]
    assert "Ada [/x] [bold]\\x1b[2J" in printed[f"explain c-[/x] --now {DUE}"]
    mentions = printed[f"mentions --feed {FEED}"]
    assert "[/x]" in mentions and "\\u202eevil" in mentions, mentions
    assert "[bold].xml" in printed["feeds scan"], "a feed named with markup, shown as named"


def test_a_table_written_with_out_is_as_safe_as_one_printed(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    ws = hostile_workspace(tmp_path / "ws", sendgrid)
    out = tmp_path / "plan.txt"
    result = run_cli("preview", "--workspace", ws, "--now", DUE, "--out", out)
    assert result.exit_code in (0, 1), result.stderr
    written = out.read_text(encoding="utf-8")
    assert "c-[/x]" in written and not [raw for raw in RAW if raw in written]


@pytest.mark.parametrize(
    "target",
    ["missing/plan.txt", "a-file/plan.txt", "/dev/full", "/proc/version"],
)
@pytest.mark.parametrize("fmt", ["table", "json", "html"])
def test_an_out_file_that_cannot_be_written_is_one_clear_line(
    tmp_path: Path, target: str, fmt: str
) -> None:
    ws = make_workspace(tmp_path / "ws", rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": TEMPLATES["birthday.j2"]})  # fmt: skip
    (tmp_path / "a-file").write_text("")
    out = target if target.startswith("/") else str(tmp_path / target)
    result = run_cli("preview", "--workspace", ws, "--format", fmt, "--out", out)
    assert result.exit_code in (1, 2), result.stdout
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: "), result.stderr
    assert out in result.stderr


# --- a store that cannot be used ----------------------------------------------------------

KEY = "birthday-note:c-1:2026"
STORE_COMMANDS = [
    ["run", "--now", DUE],
    ["preview", "--now", DUE],
    ["explain", "c-1", "--now", DUE],
    ["status"],
    ["history"],
    ["queue", "list"],
    ["queue", "approve", "--all"],
    ["queue", "reject", KEY],
    ["queue", "retry", KEY],
    ["feeds", "scan"],
]


def garbage(path: Path) -> None:
    path.write_bytes(b"these are not the pages of a database\n" * 200)


def damaged(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE filler (text)")
        db.executemany("INSERT INTO filler VALUES (?)", [("x" * 1000,)] * 50)
    with path.open("r+b") as file:
        file.truncate(3000)  # the header says more pages than there are


def folder(path: Path) -> None:
    path.mkdir()


def loop(path: Path) -> None:
    path.symlink_to(path.name)


def unreadable(path: Path) -> None:
    garbage(path)
    path.chmod(0)


@pytest.mark.parametrize("spoil", [garbage, damaged, folder, loop, unreadable, "under-a-file"])
def test_every_command_says_in_one_line_which_store_it_cannot_use(
    tmp_path: Path, spoil: object
) -> None:
    if spoil is unreadable and os.geteuid() == 0:
        pytest.skip("root reads every file")
    store = "a-file/outreach.db" if spoil == "under-a-file" else "outreach.db"
    ws = make_workspace(
        tmp_path / "ws",
        config={"store": f"sqlite:///{store}"},
        contacts=[{"id": "c-1", "email": "a@client.test", "birthday": "1980-06-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE + NEWS_RULE},  # news: every command reads the store
        templates=TEMPLATES,
    )
    if callable(spoil):
        spoil(ws / store)
    else:
        (ws / "a-file").write_text("")
    for command in STORE_COMMANDS:
        words = 2 if command[0] in ("feeds", "queue") else 1
        result = run_cli(*command[:words], "--workspace", ws, *command[words:])
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert line.startswith("Error: store ") and "outreach.db" in line, (command, line)
    daemon = subprocess.run(
        [sys.executable, "-m", "outreach", "daemon", "--workspace", str(ws)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert daemon.returncode == 1 and "Traceback" not in daemon.stderr, daemon.stderr
    assert daemon.stderr.strip().splitlines()[-1].startswith("Error: store "), daemon.stderr


def test_the_daemons_text_log_shows_a_bad_cells_control_characters_escaped(
    tmp_path: Path,
) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-2", "first_name": "Bob", "birthday": f"\x1b[31m1980-13-45{HOSTILE}"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": TEMPLATES["birthday.j2"]},
    )
    log = tmp_path / "daemon.log"
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(ws)]
    with log.open("w") as sink:
        daemon = subprocess.Popen(command, stderr=sink, stdout=sink)
    try:
        deadline = time.monotonic() + 30
        while "daemon started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    logged = log.read_text()
    assert "1980-13-45" in logged and "\\x1b[31m" in logged, logged
    assert not [raw for raw in RAW if raw in logged]
