"""A gift line cut short by a full disk is never recorded `sent` (issue 9, item 9).

`outreach run` runs in a subprocess under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored),
as on a nearly full disk: the first write() into the sink returns short, the next fails with
EFBIG. The sink must be left as it was and the row waits for a retry."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BIG_ORDER_RULE,
    NOTE_TEMPLATE,
    big_order,
    make_workspace,
    outgoing_email,
    run_cli,
)

from outreach.adapters.channels.files import FileChannel

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")

NOW = "2026-06-01T10:00:00+00:00"
LIMIT = 4_000_000  # bytes any file may grow to; the store stays far below it
ROOM = 40  # bytes left in the sink: less than one line
LIMITED_RUN = f"""\
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, {LIMIT}))
from outreach.cli import main
sys.argv = ["outreach", "run", "--workspace", sys.argv[1], "--now", "{NOW}"]
main()
"""


def filled_sink(path: Path) -> bytes:
    line = json.dumps({"filler": "x" * 990}) + "\n"
    content = line.encode() * ((LIMIT - ROOM) // len(line))
    content += b"#" * (LIMIT - ROOM - len(content) - 1) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


def test_a_short_write_leaves_the_sink_whole_and_the_row_unsent(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=[{"id": "c-1"}],
        purchases=[big_order("p-1", contact="c-1")],
        rules={"r.yaml": BIG_ORDER_RULE},
        templates={"note.j2": NOTE_TEMPLATE},
    )
    assert run_cli("run", "--workspace", ws, "--now", "2020-01-01").exit_code == 0  # its store
    before = filled_sink(ws / "out/tasks.jsonl")  # earlier tasks, the disk nearly full
    done = subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, str(ws)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (ws / "out/tasks.jsonl").read_bytes() == before  # nothing torn left behind
    with sqlite3.connect(ws / "outreach.db") as connection:
        status, error = connection.execute("SELECT status, last_error FROM outbox").fetchone()
    assert status == "failed"
    assert "cannot write" in error and "too large" in error.lower()


def test_a_failed_fsync_is_not_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = tmp_path / "out/gifts.jsonl"
    sink.parent.mkdir()
    sink.write_text('{"key": "earlier"}\n', encoding="utf-8")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)  # a disk error surfaces at fsync
    delivery = FileChannel(sink).send(outgoing_email())
    assert delivery.outcome == "retry" and not delivery.doubtful
    assert sink.read_text(encoding="utf-8") == '{"key": "earlier"}\n'
