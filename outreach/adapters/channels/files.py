"""The file channel: gift and task sinks as JSON Lines, one object per action, for a person
or another system to pick up."""

from __future__ import annotations

import json
import os
from pathlib import Path

from outreach.adapters.channels import Delivery
from outreach.adapters.store.outbox import OutboxRow


class FileChannel:
    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, row: OutboxRow) -> Delivery:
        record = {
            "key": row.key,
            "rule": row.rule_id,
            "contact": row.contact_id,
            "action": row.action,
            "due": row.send_at.isoformat(timespec="seconds"),
            **{k: row.payload.get(k) for k in ("subject", "text", "html", "locale")},
            **row.payload.get("details", {}),
        }
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write of one line with O_APPEND: concurrent writers never interleave lines.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            return Delivery("retry", error=f"cannot write {self.path}: {exc.strerror or exc}")
        return Delivery("sent", provider_id=f"file:{self.path.name}")
