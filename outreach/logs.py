"""Logging for the daemon: readable lines by default, one JSON object per line on request.

Messages carry facts as `extra={"fields": {...}}` (a key, a channel, a count); never a message
body or a secret at INFO. Whatever a line holds, the secrets `hide` was told of are redacted
from it (message, fields and traceback alike), and a text line shows control characters as
escapes: a line is one line, and a client's name cannot recolour the operator's terminal."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from outreach.redaction import Redactor
from outreach.terminal import visible, visible_json

_hidden = Redactor()


def hide(secrets: Redactor) -> None:
    """Redact these secrets, too, from every line logged from now on."""
    global _hidden
    _hidden = _hidden | secrets


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        as_json = json.loads(json.dumps(entry, default=str))  # anything else as its text
        return visible_json(json.dumps(_hidden.tree(as_json), ensure_ascii=False))


class Lines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        said = record.getMessage() + "".join(
            f" {k}={v}" for k, v in fields.items() if v is not None
        )
        line = f"{self.formatTime(record, self.datefmt)} {record.levelname:<7} {_shown(said)}"
        if record.exc_info:
            line += "\n" + _shown(self.formatException(record.exc_info), lines=True)
        if record.stack_info:
            line += "\n" + _shown(self.formatStack(record.stack_info), lines=True)
        return line


def _shown(text: str, lines: bool = False) -> str:
    return visible(_hidden(text), lines)


def setup(form: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if form == "json" else Lines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries talk at WARNING and above only: some log request headers (API keys) at DEBUG.
    for noisy in ("apscheduler", "python_http_client", "httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A tick still running when its next one is due is skipped by design (max_instances=1).
    logging.getLogger("apscheduler.scheduler").addFilter(_NotSkippedTicks())


class _NotSkippedTicks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call: `log.info("sent", extra=fields(key=k, channel=c))`."""
    return {"fields": values}
