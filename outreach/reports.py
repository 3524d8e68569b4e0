"""Decisions and explanations as JSON, a terminal table, or a self-contained HTML page."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from rich.console import Console
from rich.table import Table

from outreach.core.display import local_time
from outreach.core.model import Decision, Mention, Status
from outreach.core.wording import counted
from outreach.terminal import cell

STATUS_STYLE = {
    Status.PLANNED: "green",
    Status.NEEDS_APPROVAL: "yellow",
    Status.SUPPRESSED: "magenta",
    Status.CAPPED: "cyan",
    Status.LATE: "dim",
    Status.ERROR: "bold red",
}


def decision_json(decision: Decision) -> dict[str, Any]:
    """One element of `preview --format json`, exactly as SPEC.md fixes it."""
    message = decision.message
    return {
        "rule": decision.rule_id,
        "contact": decision.contact_id,
        "action": decision.action,
        "channel": decision.channel,
        "send_at": decision.send_at.isoformat(timespec="seconds"),
        "key": decision.key,
        "status": decision.status.value,
        "reason": decision.reason,
        "subject": message.subject if message else None,
        "text": message.text if message else None,
        "html": message.html if message else None,
    }


def decisions_json(decisions: Sequence[Decision]) -> str:
    return json.dumps([decision_json(d) for d in decisions], ensure_ascii=False, indent=2)


def decisions_table(decisions: Sequence[Decision], console: Console) -> None:
    table = Table(show_lines=False, header_style="bold")
    table.add_column("recipient's time", no_wrap=True, min_width=22)
    for column in ("rule", "contact", "action", "status", "what"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        style = STATUS_STYLE[d.status]
        what = d.reason if d.status is not Status.PLANNED or d.message is None else ""
        if d.message is not None and d.status in (Status.PLANNED, Status.NEEDS_APPROVAL):
            what = d.message.subject or d.message.text.split("\n", 1)[0]
        if d.action == "gift":
            what = f"{d.details.get('item')}" + (f" — {what}" if what else "")
        table.add_row(
            local_time(d.send_at),
            cell(d.rule_id),
            cell(d.contact_id),
            d.action,
            cell(d.status.value, style),
            cell(what),
        )
    console.print(table)
    console.print(summary(decisions))


def summary(decisions: Sequence[Decision]) -> str:
    counts = Counter(d.status.value for d in decisions)
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    return counted(len(decisions), "action") + (f": {', '.join(parts)}" if parts else "")


def decisions_html(decisions: Sequence[Decision], title: str, now: datetime, days: int) -> str:
    """One self-contained page: every message as the client would see it."""
    cards = "\n".join(_card(d) for d in decisions)
    return _PAGE.format(
        title=escape(title),
        subtitle=escape(
            f"{summary(decisions)} · from {local_time(now)} for {counted(days, 'day')} · "
            "nothing was sent"
        ),
        cards=cards or "<p>Nothing would be sent in this period.</p>",
    )


def _card(d: Decision) -> str:
    rows = [("Send at", local_time(d.send_at)), ("Key", d.key)]
    rows += [(k.replace("_", " ").capitalize(), _plain(v)) for k, v in d.details.items() if v]
    if d.reason:
        rows.append(("Reason", d.reason))
    meta = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    body = ""
    if d.message is not None:
        body = f"<h3>{escape(d.message.subject)}</h3>" if d.message.subject else ""
        if d.message.html:
            # A sandboxed frame: the message's own styles stay inside, scripts never run.
            body += f'<iframe sandbox srcdoc="{escape(d.message.html, quote=True)}"></iframe>'
        else:
            body += f"<pre>{escape(d.message.text)}</pre>"
        body += f'<p class="src">{escape(d.message.template)} · {escape(d.message.locale)}</p>'
    return (
        f'<section class="card {d.status.value}"><header><span class="status">'
        f"{escape(d.status.value)}</span> <b>{escape(d.rule_id)}</b> → "
        f"{escape(d.contact_id)} <span class='action'>{escape(d.action)}</span></header>"
        f"<table>{meta}</table>{body}</section>"
    )


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    return str(value)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222;
       background: #f6f6f4; }}
h1 {{ margin-bottom: 0; }} .sub {{ color: #666; margin-top: .2rem; }}
.card {{ background: #fff; border: 1px solid #ddd; border-left: 6px solid #4a8; border-radius: 6px;
         margin: 1.2rem 0; padding: 1rem 1.2rem; }}
.card.needs_approval {{ border-left-color: #d90; }} .card.error {{ border-left-color: #c33; }}
.card.suppressed, .card.capped, .card.late {{ border-left-color: #999; opacity: .8; }}
.status {{ text-transform: uppercase; font-size: .75rem; letter-spacing: .05em;
           background: #eee; padding: .1rem .4rem; border-radius: 3px; }}
.action {{ color: #666; }}
table {{ border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }}
th {{ text-align: left; color: #666; font-weight: normal; padding-right: 1rem;
      vertical-align: top; }}
pre {{ white-space: pre-wrap; font: inherit; background: #fafafa; padding: .8rem;
       border: 1px solid #eee; }}
iframe {{ width: 100%; height: 36rem; border: 1px solid #eee; background: #fff; }}
.src {{ color: #999; font-size: .8rem; }}
</style></head>
<body><h1>{title}</h1><p class="sub">{subtitle}</p>
{cards}
</body></html>
"""


def mention_json(mention: Mention) -> dict[str, Any]:
    """One element of `mentions --format json`, as SPEC.md fixes it."""
    entry = mention.entry
    return {
        "company": mention.company_id,
        "entry": entry.id or entry.link,
        "title": entry.title,
        "sentence": mention.sentence,
        "confidence": mention.confidence,
    }


def print_mentions(rows: Sequence[dict[str, Any]], console: Console) -> None:
    table = Table(header_style="bold")
    for column in ("company", "confidence", "entry", "sentence"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            cell(row["company"]),
            f"{row['confidence']:.2f}",
            cell(row["title"] or row["entry"]),
            cell(row["sentence"]),
        )
    console.print(table)
    console.print(counted(len(rows), "mention"))


def print_feed_reports(reports: Sequence[Any], console: Console, dry_run: bool) -> None:
    table = Table(header_style="bold")
    for column in ("feed", "status", "entries", "new", "mentions", "problem"):
        table.add_column(column, overflow="fold")
    for r in reports:
        style = {"fetched": "green", "not_modified": "dim", "error": "bold red"}[r.status]
        named = ", ".join(sorted({m.company_id for m in r.mentions}))
        table.add_row(
            cell(r.url),
            cell(r.status, style),
            str(r.entries),
            str(r.new),
            cell(f"{len(r.mentions)}" + (f" ({named})" if named else "")),
            cell(r.error or r.warning),
        )
    console.print(table)
    found = sum(len(r.mentions) for r in reports)
    errors = sum(r.status == "error" for r in reports)
    note = " (dry run: nothing stored)" if dry_run else ""
    console.print(
        f"{counted(len(reports), 'feed')}, "
        f"{counted(sum(r.new for r in reports), 'new entry', 'new entries')}, "
        f"{counted(found, 'mention')}, {counted(errors, 'error')}{note}"
    )
