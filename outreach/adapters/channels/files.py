"""The file channel: gift and task sinks as JSON Lines, one object per action, for a person
or another system to pick up. The file can be read back, so a row interrupted mid-write is
resolved by looking (`confirm`), never by writing it twice."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from outreach.adapters.channels import Delivery
from outreach.adapters.sources.files import Boundary, Refused, open_append, open_regular
from outreach.adapters.store.outbox import OutboxRow


def sink_record(row: OutboxRow) -> dict[str, Any]:
    """What a gift or task sink receives: the action, its particulars and its text."""
    return {
        "key": row.key,
        "rule": row.rule_id,
        "contact": row.contact_id,
        "action": row.action,
        "due": row.send_at.isoformat(timespec="seconds"),
        **{k: row.payload.get(k) for k in ("subject", "text", "html", "locale")},
        **row.payload.get("details", {}),
    }


class FileChannel:
    def __init__(self, path: Path, within: Boundary | None = None) -> None:
        self.path = path
        self.within = within  # checked again at each write: the daemon runs for months

    def send(self, row: OutboxRow) -> Delivery:
        line = json.dumps(sink_record(row), ensure_ascii=False, default=str) + "\n"
        try:
            # One write of one line with O_APPEND: concurrent writers never interleave lines.
            fd = self._open()
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line  # a line torn by a crash stays alone on its line
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except Refused as exc:  # the sink's path, not this row: the channel rests till fixed
            return Delivery("paused", error=f"cannot write {self.path}: {exc}")
        except OSError as exc:
            return Delivery("retry", error=f"cannot write {self.path}: {exc.strerror or exc}")
        return Delivery("sent", provider_id=f"file:{self.path.name}")

    def _open(self) -> int:
        """The sink, appended to: inside the workspace, never through a symlink, never a FIFO."""
        path = self.within.confine(self.path) if self.within else self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_append(path)

    def confirm(self, row: OutboxRow) -> bool | None:
        needle = json.dumps(row.key, ensure_ascii=False)
        try:
            path = self.within.confine(self.path) if self.within else self.path
            with open_regular(path, None) as opened:
                sink = opened.text(errors="replace")
                return any(needle in line and _key_of(line) == row.key for line in sink)
        except FileNotFoundError:
            return False
        except (OSError, Refused):
            return None


def _key_of(line: str) -> object:
    try:
        return json.loads(line).get("key")
    except (ValueError, AttributeError):
        return None  # a torn last line: it did not arrive
