"""The outbox for people: `queue list`, `history` and `run` as tables, lines or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.table import Table

from outreach.adapters.store.outbox import OutboxRow
from outreach.core.outbox import State
from outreach.redaction import Redactor
from outreach.services.dispatch import RunReport
from outreach.services.queue import Change
from outreach.terminal import cell

STATUS_STYLE = {
    State.NEEDS_APPROVAL: "yellow",
    State.PENDING: "green",
    State.SENDING: "cyan",
    State.FAILED: "yellow",
    State.SENT: "bold green",
    State.DEAD: "bold red",
    State.AMBIGUOUS: "bold magenta",
    State.REJECTED: "dim",
    State.CANCELLED: "magenta",
    State.LATE: "dim",
    State.ERROR: "bold red",
}
SHOWN_ERRORS = 10


def row_json(row: OutboxRow) -> dict[str, Any]:
    payload = row.payload
    return {
        "key": row.key,
        "rule": row.rule_id,
        "contact": row.contact_id,
        "action": row.action,
        "channel": row.channel,
        "status": row.status,
        "send_at": _iso(row.send_at),
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "sent_at": _iso(row.sent_at),
        "provider_id": row.provider_id,
        "error": row.last_error,
        "reason": payload.get("reason"),
        "subject": payload.get("subject"),
        "details": payload.get("details") or {},
    }


def redacted(row: OutboxRow, redact: Redactor) -> OutboxRow:
    """The row without the secrets an older outreach may have stored with it."""
    error = redact(row.last_error) if row.last_error else row.last_error
    return replace(row, last_error=error, payload=redact.tree(row.payload))


def rows_table(rows: Sequence[OutboxRow], console: Console, title: str) -> None:
    table = Table(header_style="bold", title=cell(title), title_justify="left")
    for column in ("send at (UTC)", "status", "rule", "contact", "action", "what", "key"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.send_at.strftime("%Y-%m-%d %H:%M"),
            cell(row.status, STATUS_STYLE.get(row.status, "")),
            *map(cell, (row.rule_id, row.contact_id, row.action, _what(row), row.key)),
        )
    console.print(table)


def _what(row: OutboxRow) -> str:
    payload, details = row.payload, row.payload.get("details") or {}
    said = row.last_error or payload.get("reason") or ""
    if row.status is State.SENT:
        said = f"via {row.channel}" + (f" · {row.provider_id}" if row.provider_id else "")
    elif row.status is State.FAILED and row.next_attempt_at is not None:
        said = f"retry after {row.next_attempt_at:%H:%M:%S} · {said}"
    subject = payload.get("subject") or ""
    if row.action == "gift":
        subject = f"{details.get('item')} for {details.get('recipient')}"
    return " — ".join(part for part in (subject, said) if part)


def changes_lines(changes: Sequence[Change]) -> list[str]:
    return [f"{'ok' if c.done else 'not changed'}: {c.key}: {c.note}" for c in changes]


def run_lines(report: RunReport) -> list[str]:
    lines = [f"recorded {sum(report.recorded.values())} new" + _counted(report.recorded)]
    if report.recovered:
        lines.append(f"recovered {report.recovered} left in `sending` by a dispatcher that died")
    lines.append(f"dispatched {sum(report.outcomes.values())}" + _counted(report.outcomes))
    if report.errors:
        lines.append(
            f"error: {len(report.errors)} actions cannot be prepared; they wait in the outbox "
            "until fixed (`outreach history --status error`):"
        )
        lines += [f"  {d.key}: {d.reason}" for d in report.errors[:SHOWN_ERRORS]]
        if len(report.errors) > SHOWN_ERRORS:
            lines.append(f"  ... and {len(report.errors) - SHOWN_ERRORS} more")
    for key, why in sorted(report.held.items()):
        lines.append(f"waiting: {key}: {why}")
    for channel, why in sorted(report.unusable.items()):
        if channel == "all":
            lines.append(f"nothing is sent until this is fixed: {why}; the actions wait")
        else:
            lines.append(f"{channel}: cannot send ({why}); its actions wait")
    for channel, why in sorted(report.paused.items()):
        lines.append(f"{channel}: paused {why}")
    if report.waiting:
        lines.append("in the outbox:" + _counted(report.waiting).removeprefix(":"))
    if report.waiting.get(State.NEEDS_APPROVAL):
        lines.append("  approve with `outreach queue list` and `outreach queue approve KEY`")
    return lines


def status_lines(found: dict[str, Any]) -> list[str]:
    daemon = found.get("daemon") or {"running": False}
    if daemon["running"]:
        lines = [f"daemon: running ({daemon['holder']}) since {daemon['started_at']}, "
                 f"last heard from {daemon['silent_for']} ago"]  # fmt: skip
    elif "holder" in daemon:
        lines = [f"daemon: not running (last: {daemon['holder']}, silent for "
                 f"{daemon['silent_for']})"]  # fmt: skip
    else:
        lines = ["daemon: not running"]
    if not found.get("store"):
        lines.append("store: not created yet (`outreach run` or `outreach daemon` makes it)")
    for job, tick in sorted((found.get("ticks") or {}).items()):
        error = f" — {tick['error']}" if tick["error"] else ""
        lines.append(f"  {job}: last at {tick['at']} ({tick['seconds'] or 0:.2f} s){error}")
    lines.append("outbox:" + (_counted(found.get("outbox") or {}).removeprefix(":") or " empty"))
    for channel, pause in sorted((found.get("paused") or {}).items()):
        lines.append(f"  {channel}: paused until {pause['until']}: {pause['why']}")
    for feed in found.get("feeds") or []:
        error = f" — {feed['last_error']}" if feed.get("last_error") else ""
        lines.append(f"feed {feed['url']}: {feed['last_status']} at {feed['last_fetch']}{error}")
    lines.append("next:" if found["next"] else "next: nothing planned in the next 30 days")
    for item in found["next"]:
        waits = "  (needs approval)" if item["status"] == State.NEEDS_APPROVAL else ""
        lines.append(
            f"  {item['send_at']}  {item['rule']}  {item['contact']}  {item['action']}{waits}"
        )
    return lines


def run_json(report: RunReport) -> dict[str, Any]:
    return {
        "recorded": dict(report.recorded),
        "dispatched": dict(report.outcomes),
        "recovered": report.recovered,
        "held": report.held,
        "paused": report.paused,
        "refused": report.refused,
        "unusable": report.unusable,
        "waiting": report.waiting,
        "errors": [
            {"key": d.key, "rule": d.rule_id, "contact": d.contact_id, "reason": d.reason}
            for d in report.errors
        ],
    }


def _counted(counts: Any) -> str:
    parts = [f"{n} {status}" for status, n in sorted(counts.items()) if n]
    return (": " + ", ".join(parts)) if parts else ""


def _iso(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
