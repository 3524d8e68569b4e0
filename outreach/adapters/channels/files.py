"""The file channel: gift and task sinks as JSON Lines, one object per action, for a person
or another system to pick up. The file can be read back, so a row interrupted mid-write is
resolved by looking (`confirm`), never by writing it twice."""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from outreach.adapters.channels import Delivery
from outreach.adapters.sources.files import Boundary, Refused, open_append, open_regular
from outreach.core.outgoing import Outgoing


def sink_record(message: Outgoing) -> dict[str, Any]:
    """What a gift or task sink receives: the action, its particulars and its text."""
    return {
        "key": message.key,
        "rule": message.rule_id,
        "contact": message.contact_id,
        "action": message.action,
        "due": message.due.isoformat(timespec="seconds"),
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "locale": message.locale,
        **message.details,
    }


LOCK_WAIT = 5.0  # seconds; far below a send's time limit (services/channels.py)


class FileChannel:
    def __init__(self, path: Path, within: Boundary | None = None) -> None:
        self.path = path
        self.within = within  # checked again at each write: the daemon runs for months

    def send(self, message: Outgoing) -> Delivery:
        """Append the message's line whole, or not at all: a short write (a full disk, a file
        size limit) or a failed fsync is undone and answered `retry`, never `sent`."""
        line = json.dumps(sink_record(message), ensure_ascii=False, default=str) + "\n"
        try:
            fd = self._open()
        except Refused as exc:  # the sink's path, not this message: the channel rests till fixed
            return Delivery("paused", error=f"cannot write {self.path}: {exc}")
        except OSError as exc:
            return self._failed(exc)
        try:
            # Writers of this sink take turns: a line written in several pieces is never
            # interleaved with another's, and what is undone is only ours. The turn is
            # waited for a while only: a send given up on must not write later.
            if not _lock(fd, LOCK_WAIT):
                return Delivery("retry", error=f"{self.path} is locked by another writer")
            return self._append(fd, line)
        except OSError as exc:
            return self._failed(exc)
        finally:
            os.close(fd)

    def _append(self, fd: int, line: str) -> Delivery:
        before = os.fstat(fd).st_size
        if before and os.pread(fd, 1, before - 1) != b"\n":
            line = "\n" + line  # a line torn by a crash stays alone on its line
        data = line.encode("utf-8")
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            if _undo(fd, before, written):
                return self._failed(exc)
            # What we wrote stays (someone else appended after it): a whole line may be read
            # as arrived, so a second one could make a duplicate.
            whole = written == len(data)
            return self._failed(exc, "; what was written stays in the file", doubtful=whole)
        return Delivery("sent", provider_id=f"file:{self.path.name}")

    def unwritable(self) -> str | None:
        """Why a line could not be appended now, or None; nothing is written or created."""
        try:
            path = self.within.confine(self.path) if self.within else self.path
        except Refused as exc:
            return f"cannot write {self.path}: {exc}"
        if path.exists():
            if not path.is_file():
                return f"cannot write {self.path}: not a regular file"
            return None if os.access(path, os.W_OK) else f"cannot write {self.path}: not allowed"
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return f"cannot write {self.path}: {folder} is not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"cannot write {self.path}: {folder} does not allow it"
        return None

    def _open(self) -> int:
        """The sink, appended to: inside the workspace, never through a symlink, never a FIFO."""
        path = self.within.confine(self.path) if self.within else self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_append(path)

    def _failed(self, exc: OSError, note: str = "", doubtful: bool = False) -> Delivery:
        error = f"cannot write {self.path}: {exc.strerror or exc}{note}"
        return Delivery("retry", error=error, doubtful=doubtful)

    def confirm(self, message: Outgoing) -> bool | None:
        needle = json.dumps(message.key, ensure_ascii=False)
        try:
            path = self.within.confine(self.path) if self.within else self.path
            with open_regular(path, None) as opened:
                sink = opened.text(errors="replace")
                return any(needle in line and _key_of(line) == message.key for line in sink)
        except FileNotFoundError:
            return False
        except (OSError, Refused):
            return None


def _lock(fd: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def _undo(fd: int, before: int, written: int) -> bool:
    """Cut what we wrote, if the file is still what it was plus our bytes."""
    if not written:
        return True
    try:
        if os.fstat(fd).st_size != before + written:
            return False
        os.ftruncate(fd, before)
    except OSError:
        return False
    with suppress(OSError):  # readers see the cut at once; making it durable is a bonus
        os.fsync(fd)
    return True


def _key_of(line: str) -> object:
    try:
        return json.loads(line).get("key")
    except (ValueError, AttributeError):
        return None  # a torn last line: it did not arrive
