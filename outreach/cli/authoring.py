"""Commands for what account managers write: validate, preview, explain, schema, init."""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from outreach.cli.common import (
    cli,
    echo_json,
    echo_lines,
    emit,
    exit_on_errors,
    now_option,
    open_workspace,
    report_problems,
    say_if_blocked,
    say_if_moved,
    terminal,
    when,
    workspace_option,
)
from outreach.core.display import local_time
from outreach.core.explaining import explain
from outreach.core.rules import RuleFile
from outreach.core.timing import zone
from outreach.core.wording import counted
from outreach.errors import UsageError
from outreach.reports import (
    decisions_html,
    decisions_json,
    decisions_table,
    summary,
)
from outreach.services.init import create_workspace
from outreach.services.moving_dates import planned_data
from outreach.services.preview import preview as plan_preview
from outreach.services.workspace import (
    Workspace,
    reading_order,
    workspace_file,
)
from outreach.terminal import cell, visible_json


@cli.command()
@workspace_option
@now_option
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=0, max=3660),
    help="Try every rule on the real contacts over this many days (0: only check the files).",
)
def validate(workspace: str | None, now: str | None, days: int) -> None:
    """Check config, data, rules and templates, then try every rule on the real contacts:
    every problem as path:line:col."""
    from outreach.services.validate import dry_run, unset_variables

    loaded = open_workspace(workspace, news=days > 0)
    moment = when(loaded, now)
    tried = dry_run(loaded, moment, days) if days else []  # may add cells moved out of range
    found = [*loaded.problems, *unset_variables(loaded, os.environ), *tried]
    loaded.problems = sorted(found, key=reading_order)
    say_if_moved(loaded, moment)
    report_problems(loaded.problems, limit=None)
    errors, warnings = len(loaded.errors), len(loaded.problems) - len(loaded.errors)
    rules, contacts = len(loaded.engine.rules), len(loaded.data.contacts)
    if errors:
        say_if_blocked(loaded)
        click.echo(f"{counted(errors, 'error')}, {counted(warnings, 'warning')}", err=True)
        sys.exit(1)
    told = f"ok: {counted(rules, 'rule')}, {counted(contacts, 'contact')}"
    click.echo(told + (f", {counted(warnings, 'warning')}" if warnings else ""), err=True)


@cli.command()
@workspace_option
@now_option
@click.option(
    "--days",
    default=14,
    show_default=True,
    type=click.IntRange(min=0, max=3660),
    help="How many days ahead.",
)
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@click.option("--contact", "contact_id", metavar="ID", help="Only this contact.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of the terminal ('-': the terminal).",
)
def preview(
    workspace: str | None,
    now: str | None,
    days: int,
    rule_id: str | None,
    contact_id: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Dry run of the next N days: what would be sent, when, to whom, rendered."""
    loaded = open_workspace(workspace, news=True)
    out = None if out is not None and str(out) == "-" else out
    if out is not None and (used := workspace_file(loaded, out)):
        raise UsageError(f"--out {out} is {used}, which the workspace uses; pick another file")
    moment = when(loaded, now)
    decisions = plan_preview(loaded, moment, days, rule_id, contact_id)
    report_problems(loaded.problems)
    say_if_moved(loaded, moment)
    if fmt == "json":
        emit(visible_json(decisions_json(decisions)) + "\n", out)
    elif fmt == "html":
        title = f"outreach preview — {loaded.root.resolve().name}"
        emit(decisions_html(decisions, title, moment, days), out)
    elif out is not None:
        table = io.StringIO()
        decisions_table(decisions, Console(file=table, width=160, no_color=True))
        emit(table.getvalue(), out)
    else:
        decisions_table(decisions, terminal())
    if out is not None:
        echo_lines([f"wrote {summary(decisions)} to {out}"], err=True)
    exit_on_errors(loaded)


@cli.command(name="explain")
@click.argument("contact_id", metavar="CONTACT")
@workspace_option
@now_option
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def explain_command(
    contact_id: str, workspace: str | None, now: str | None, rule_id: str | None, fmt: str
) -> None:
    """For each rule: does it fire for CONTACT, and why (or why not)."""
    loaded = open_workspace(workspace, news=True)
    moment = when(loaded, now)
    data = planned_data(loaded, moment)
    report_problems(loaded.problems)
    say_if_moved(loaded, moment)
    if contact_id not in loaded.data.contacts:
        raise UsageError(f"no contact '{contact_id}' in the contacts file")
    if rule_id is not None and rule_id not in {r.id for r in loaded.engine.rules}:
        raise UsageError(f"no rule '{rule_id}'")
    found = explain(loaded.engine, data, contact_id, moment, rule_id)
    if fmt == "json":
        echo_json([_explanation_json(e) for e in found])
    else:
        _print_explanations(loaded, contact_id, moment, found)
    exit_on_errors(loaded)


def _explanation_json(found: Any) -> dict[str, Any]:
    decision = found.decision
    return {
        "rule": found.rule_id,
        "fires": found.fires,
        "steps": [{"ok": s.ok, "text": s.text} for s in found.steps],
        "status": decision.status.value if decision else None,
        "send_at": decision.send_at.isoformat(timespec="seconds") if decision else None,
        "key": decision.key if decision else None,
    }


def _print_explanations(loaded: Workspace, contact_id: str, moment: datetime, found: Any) -> None:
    contact = loaded.data.contacts[contact_id]
    tz = contact.timezone or f"{loaded.config.timezone} (workspace default)"
    locale = contact.locale or f"{loaded.config.locale} (workspace default)"
    console = terminal()
    now = local_time(moment, zone(contact.timezone or loaded.config.timezone))
    console.print(
        Text.assemble(
            cell(contact.name, "bold"), cell(f" ({contact_id}) · {tz} · {locale} · now {now}")
        )
    )
    marks = {True: ("✓", "green"), False: ("✗", "red"), None: ("·", "dim")}
    for item in found:
        verdict = ("fires", "green") if item.fires else ("does not fire", "dim")
        console.print(Text.assemble("\n", cell(item.rule_id, "bold"), ": ", verdict))
        for step in item.steps:
            console.print(Text.assemble("  ", marks[step.ok], " ", cell(step.text)))


@cli.command()
@click.option("--config", "of_config", is_flag=True, help="Schema of outreach.yaml instead.")
def schema(of_config: bool) -> None:
    """Print the JSON Schema of rule files (for editor completion)."""
    from outreach.core.config import Config

    model = Config if of_config else RuleFile
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "outreach.yaml" if of_config else "outreach rule file",
        **model.model_json_schema(by_alias=True),
    }
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace the starter's files where they already exist.")
def init(directory: str, force: bool) -> None:
    """Write a starter workspace into DIRECTORY."""
    if not directory.strip():  # not the current folder by accident
        raise UsageError("DIRECTORY is empty; name a folder, e.g. `outreach init my-workspace`")
    written = create_workspace(Path(directory), force)
    for path in written:
        click.echo(f"  {path}", err=True)
    click.echo(
        f"Starter workspace in {directory}. Try: outreach preview --workspace {directory}", err=True
    )
