"""The one safe way to touch a workspace file: confined to the workspace (and the folders it
allows), regular files only, opened without blocking, read within a cap; sinks appended to
without following a link or blocking on a FIFO."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import outgoing_email

from outreach.adapters.channels.files import FileChannel
from outreach.adapters.sources.files import (
    Boundary,
    Refused,
    open_append,
    open_regular,
    read_bytes,
)


def bounded(work: Callable[[], Any], seconds: float = 10) -> Any:
    """`work()` in a thread; fails the test instead of hanging it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail("hung")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    (root / "data/ok.csv").write_text("id\nc-1\n", encoding="utf-8")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/contacts.csv").write_text("id\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    return root


# --- confinement ---------------------------------------------------------------------------


def test_a_file_inside_is_confined_to_its_real_path(ws: Path) -> None:
    (ws / "data/link.csv").symlink_to("ok.csv")
    assert Boundary.of(ws).confine(ws / "data/link.csv") == (ws / "data/ok.csv").resolve()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda ws: ws / "../secret.txt", "outside the workspace"),
        (lambda ws: ws.parent / "secret.txt", "outside the workspace"),
        (lambda ws: _link(ws / "data/s.csv", ws.parent / "secret.txt"), "leads to"),
        (lambda ws: _link(ws / "data/e.csv", Path("/proc/self/environ")), "leads to /proc"),
        (lambda ws: _link(ws / "data/z.csv", Path("/dev/zero")), "leads to /dev/zero"),
        (lambda ws: _link(ws / "sub", ws.parent) / "secret.txt", "leads to"),  # a linked folder
        (lambda ws: _link(ws / "data/loop.csv", ws / "data/loop.csv"), "cannot be resolved"),
    ],
)
def test_a_path_leading_outside_is_refused(
    ws: Path, make: Callable[[Path], Path], says: str
) -> None:
    with pytest.raises(
        Refused, match=r"outside_workspace|cannot be resolved|never reads"
    ) as refused:
        Boundary.of(ws).confine(make(ws))
    assert says in str(refused.value)


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero", "/sys/kernel"])
def test_the_kernels_folders_are_refused_whatever_is_allowed(ws: Path, target: str) -> None:
    with pytest.raises(Refused, match="where outreach never reads or writes"):
        Boundary.of(ws, ["/"]).confine(_link(ws / "data/x.csv", Path(target)))


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def test_allowed_folders_outside_are_confined_too(ws: Path) -> None:
    boundary = Boundary.of(ws, ["../shared"])
    assert boundary.confine(ws.parent / "shared/contacts.csv").name == "contacts.csv"
    with pytest.raises(Refused):
        boundary.confine(ws.parent / "secret.txt")
    with pytest.raises(Refused):
        boundary.confine(ws.parent / "shared/../secret.txt")


# --- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: p.symlink_to("/dev/zero"), "a symbolic link"),  # not confined: not followed
    ],
)
def test_only_regular_files_are_read_and_nothing_blocks(
    ws: Path, make: Callable[[Path], None], kind: str
) -> None:
    path = ws / "data/hostile.csv"
    make(path)

    with pytest.raises(Refused, match=rf"not a regular file \({kind}\)"):
        bounded(lambda: read_bytes(path, 1000))


def test_a_device_is_refused_on_the_open_descriptor() -> None:
    with pytest.raises(Refused, match=r"not a regular file \(a character device\)"):
        bounded(lambda: read_bytes(Path("/dev/zero"), 1000))


def test_the_cap_counts_what_is_read_not_what_stat_says() -> None:
    """/proc files say they are empty; reading stops at the cap anyway."""
    with pytest.raises(Refused, match="over the limit of 10 bytes; fix it"):
        read_bytes(Path("/proc/self/status"), 10, "fix it")


def test_a_file_at_the_cap_is_read_and_one_byte_more_is_refused(ws: Path) -> None:
    path = ws / "data/cap.txt"
    path.write_bytes(b"x" * 100)
    assert read_bytes(path, 100) == b"x" * 100
    with pytest.raises(Refused, match="100 bytes, over the limit of 99 bytes"):
        read_bytes(path, 99)


def test_an_open_file_streams_as_text_within_the_cap(ws: Path) -> None:
    with open_regular(ws / "data/ok.csv", 100) as opened:
        assert opened.text().read() == "id\nc-1\n"
        assert opened.info.st_size == 7


def test_a_missing_file_is_still_file_not_found(ws: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(ws / "data/none.csv", 100)


# --- appending -----------------------------------------------------------------------------


def test_appending_never_follows_a_link_nor_opens_a_fifo(ws: Path) -> None:
    (ws / "out").mkdir()
    (ws / "out/link.jsonl").symlink_to(ws / "data/ok.csv")
    os.mkfifo(ws / "out/fifo.jsonl")

    with pytest.raises(Refused, match="a symbolic link"):
        open_append(ws / "out/link.jsonl")
    with pytest.raises(Refused, match="a FIFO"):
        bounded(lambda: open_append(ws / "out/fifo.jsonl"))
    assert (ws / "data/ok.csv").read_text(encoding="utf-8") == "id\nc-1\n"


def test_a_sink_swapped_for_a_link_out_of_the_workspace_is_not_written(ws: Path) -> None:
    """The daemon keeps its channels for months: the sink is checked at every write."""
    outside = ws.parent / "secret.txt"
    sink = ws / "out/tasks.jsonl"
    channel = FileChannel(Boundary.of(ws).confine(sink), Boundary.of(ws))
    assert channel.send(outgoing_email("a:c-1:1")).outcome == "sent"

    sink.unlink()
    sink.symlink_to(outside)
    refused = channel.send(outgoing_email("a:c-1:2"))
    sink.unlink()
    (ws / "out").rmdir()
    (ws / "out").symlink_to(ws.parent)
    refused_folder = channel.send(outgoing_email("a:c-1:3"))

    assert refused.outcome == refused_folder.outcome == "paused"
    assert "outside the workspace" in (refused.error or "")
    assert outside.read_text(encoding="utf-8") == "secret"
    assert not (ws.parent / "tasks.jsonl").exists()


def test_a_fifo_as_a_sink_is_refused_not_recorded_as_sent(ws: Path) -> None:
    (ws / "out").mkdir()
    os.mkfifo(ws / "out/gifts.jsonl")
    channel = FileChannel(ws / "out/gifts.jsonl", Boundary.of(ws))

    delivery = bounded(lambda: channel.send(outgoing_email()))

    assert delivery.outcome == "paused"
    assert "not a regular file (a FIFO)" in (delivery.error or "")
    assert bounded(lambda: channel.confirm(outgoing_email())) is None, "cannot tell, never hangs"


def test_the_sink_still_confirms_what_it_holds(ws: Path) -> None:
    channel = FileChannel(ws / "out/gifts.jsonl", Boundary.of(ws))
    channel.send(outgoing_email("g:c-1:1"))
    assert channel.confirm(outgoing_email("g:c-1:1")) is True
    assert channel.confirm(outgoing_email("g:c-2:1")) is False
    (line,) = (ws / "out/gifts.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["key"] == "g:c-1:1"
