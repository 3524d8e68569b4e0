"""Logging for the daemon: readable lines by default, one JSON object per line on request.

Messages carry facts as `extra={"fields": {...}}` (a key, a channel, a count); never a message
body or a secret at INFO."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


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
        return json.dumps(entry, ensure_ascii=False, default=str)


class Lines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        return line + "".join(f" {k}={v}" for k, v in fields.items() if v is not None)


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
