"""The outbox for people: `queue list`, `history` and `run` as tables, lines or JSON. Each
row is named by its handle (never broken across lines) and read on its recipient's clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from outreach.adapters.store.outbox import OutboxRow
from outreach.core.display import iso_instant, local_time, zone_or
from outreach.core.outbox import State
from outreach.core.wording import counted, tallied
from outreach.redaction import Redactor
from outreach.services.dispatch import RunReport
from outreach.services.queue import Change
from outreach.terminal import cell

STATUS_STYLE = {
    State.NEEDS_APPROVAL: "yellow",
    State.PENDING: "green",
    State.CLAIMED: "cyan",
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


@dataclass(frozen=True)
class Shown:
    """An outbox row as people see it: its handle, and the recipient's clock it is read on."""

    row: OutboxRow
    handle: str
    zone: tzinfo  # the recipient's; the workspace's for a row older than that was kept


def shown_rows(
    rows: Sequence[OutboxRow], handles: Mapping[str, str], fallback: tzinfo
) -> list[Shown]:
    return [Shown(row, handles[row.key], zone_or(row.timezone, fallback)) for row in rows]


def row_json(shown: Shown, now: datetime) -> dict[str, Any]:
    row, payload = shown.row, shown.row.payload
    return {
        "key": row.key,
        "handle": shown.handle,
        "rule": row.rule_id,
        "contact": row.contact_id,
        "action": row.action,
        "channel": row.channel,
        "status": row.status,
        "send_at": iso_instant(row.send_at, shown.zone),
        "timezone": str(shown.zone),
        "attempts": row.attempts,
        "next_attempt_at": iso_instant(row.next_attempt_at, shown.zone),
        "sent_at": iso_instant(row.sent_at, shown.zone),
        "provider_id": row.provider_id,
        "error": row.last_error,
        "reason": row.reason,
        "note": row.note,
        "subject": payload.get("subject"),
        "what": what_of(row),
        "cost": cost_of(row),
        "warnings": warnings_of(shown, now),
        "details": payload.get("details") or {},
    }


def redacted(row: OutboxRow, redact: Redactor) -> OutboxRow:
    """The row without the secrets an older outreach may have stored with it."""
    error = redact(row.last_error) if row.last_error else row.last_error
    return replace(row, last_error=error, payload=redact.tree(row.payload))


NARROW = 110  # columns below which rows are listed as blocks rather than a table


def rows_table(
    rows: Sequence[Shown], now: datetime, console: Console, title: str, wide: bool = False
) -> None:
    """Handles and times are never broken across lines (a handle is pasted into `queue
    approve`); with `wide`, neither are the full keys and provider ids. On a narrow
    terminal each row is a block: its handle, time, status and cost on the first line."""
    if console.width < NARROW and not wide:
        console.print(cell(title))
        for shown in rows:
            console.print(_block(shown, now))
        return
    table = Table(
        header_style="bold",
        title=cell(title),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),  # with the box's space between columns: two spaces
    )
    table.add_column("handle", no_wrap=True, min_width=max(len(r.handle) for r in rows))
    table.add_column("recipient's time", no_wrap=True, min_width=len(TIME_SHAPE))
    table.add_column("status", no_wrap=True, min_width=max(len(r.row.status) for r in rows))
    table.add_column("rule · contact · action", overflow="fold")
    table.add_column("what", overflow="fold")
    extras = _extras(rows, now, wide)
    for column in extras:
        table.add_column(column, overflow="fold", no_wrap=column in ("key", "provider id"))
    for shown in rows:
        row = shown.row
        table.add_row(
            cell(shown.handle, "bold"),
            local_time(row.send_at, shown.zone),
            cell(row.status, STATUS_STYLE.get(row.status, "")),
            cell(_who(row)),
            cell(_said(row, shown.zone)),
            *(cell(extras[column](shown)) for column in extras),
        )
    if wide:  # as wide as the table: whole keys, and no line padded far beyond them
        console.width = console.measure(table).maximum
    console.print(table)


TIME_SHAPE = "2026-01-01 09:00 +0000"


def _block(shown: Shown, now: datetime) -> RenderableType:
    row = shown.row
    first = Text.assemble(
        cell(shown.handle, "bold"),
        "  ",
        local_time(row.send_at, shown.zone),
        "  ",
        cell(row.status, STATUS_STYLE.get(row.status, "")),
        "  " + (cost_of(row) or ""),
        no_wrap=True,
    )
    rest = Text("\n").join(
        [cell(_who(row)), cell(_said(row, shown.zone))]
        + [cell(f"warning: {w}", "yellow") for w in warnings_of(shown, now)]
    )
    rest.overflow = "fold"
    return Group(first, Padding(rest, (0, 0, 0, 4)))


def _who(row: OutboxRow) -> str:
    return f"{row.rule_id} · {row.contact_id} · {row.action}"


def _extras(rows: Sequence[Shown], now: datetime, wide: bool) -> dict[str, Any]:
    """Columns shown when some row has something in them: cost and warnings (what a person
    approving a gift must see), and with `wide` the key and the provider's id."""
    extras: dict[str, Any] = {}
    if any(cost_of(s.row) for s in rows):
        extras["cost"] = lambda s: cost_of(s.row) or ""
    if any(warnings_of(s, now) for s in rows):
        extras["warnings"] = lambda s: "; ".join(warnings_of(s, now))
    if wide:
        extras["key"] = lambda s: s.row.key
        extras["provider id"] = lambda s: s.row.provider_id or ""
    return extras


def what_of(row: OutboxRow) -> str:
    """What the action is, as its recipient or doer knows it: an email's or a task's subject,
    a gift's item and the first line of its card, a webhook's url."""
    payload, details = row.payload, row.payload.get("details") or {}
    subject = str(payload.get("subject") or "")
    if row.action == "gift":
        card = str(payload.get("text") or "").strip().split("\n", 1)[0]
        item = f"{details.get('item')} for {details.get('recipient')}"
        return f"{item} — card: {card}" if card else item
    if row.action == "webhook":
        return subject or str(details.get("url") or "")
    return subject or str(payload.get("text") or "").strip().split("\n", 1)[0]


def cost_of(row: OutboxRow) -> str | None:
    budget = (row.payload.get("details") or {}).get("budget")
    if not isinstance(budget, dict) or budget.get("amount") is None:
        return None
    return f"{budget['amount']} {budget.get('currency') or ''}".strip()


WARNED = (State.NEEDS_APPROVAL, State.PENDING, State.FAILED)


def warnings_of(shown: Shown, now: datetime) -> list[str]:
    """What a person deciding on a gift still to go must know: its ship-by day has passed
    (in the recipient's zone) — for a gift meant to arrive by its occasion; one thanking for
    a purchase (the tenth order) ships after it by nature —, or it has no shipping address."""
    row = shown.row
    if row.action != "gift" or row.status not in WARNED:
        return []
    details = row.payload.get("details") or {}
    found = []
    ship_by, occasion = str(details.get("ship_by") or ""), str(details.get("occasion_date") or "")
    meant_to_arrive_by_then = ship_by and (not occasion or ship_by < occasion)
    if meant_to_arrive_by_then and ship_by < now.astimezone(shown.zone).date().isoformat():
        found.append(f"ship-by {ship_by} has passed")
    address = details.get("address")
    if not isinstance(address, dict) or not all(address.get(f) for f in ("address_line1", "city")):
        found.append("no shipping address")
    return found


def _said(row: OutboxRow, zone: tzinfo) -> str:
    said = row.reason or ""
    if row.status is State.SENT:
        said = f"via {row.channel}"
    elif row.status is State.FAILED and row.next_attempt_at is not None:
        said = f"retry after {local_time(row.next_attempt_at, zone)} · {said}"
    return " — ".join(part for part in (what_of(row), said) if part)


def changes_lines(changes: Sequence[Change]) -> list[str]:
    return [f"{'ok' if c.done else 'not changed'}: {c.key}: {c.note}" for c in changes]


def run_lines(report: RunReport) -> list[str]:
    lines = [f"recorded {sum(report.recorded.values())} new" + tallied(report.recorded)]
    if report.recovered:
        lines.append(f"recovered {report.recovered} left in `sending` by a dispatcher that died")
    lines.append(f"dispatched {sum(report.outcomes.values())}" + tallied(report.outcomes))
    if report.errors:
        lines.append(
            f"error: {counted(len(report.errors), 'action')} cannot be prepared; they wait in "
            "the outbox until fixed (`outreach history --status error`):"
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
        lines.append("in the outbox:" + tallied(report.waiting).removeprefix(":"))
    if report.waiting.get(State.NEEDS_APPROVAL):
        lines.append("  approve with `outreach queue list` and `outreach queue approve KEY`")
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
