"""The `outreach` command: thin commands that call services.

Exit codes: 0 ok, 1 a problem in the user's files or data, 2 wrong usage.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import Progress
from rich.text import Text
from sqlalchemy.exc import DatabaseError, IntegrityError

from outreach import __version__
from outreach.adapters.sources.files import Refused, write_regular
from outreach.adapters.store import Store, advice
from outreach.adapters.store.outbox import OutboxRow
from outreach.clock import fixed_clock, parse_now, system_clock
from outreach.core.explaining import explain
from outreach.core.model import with_mentions
from outreach.core.outbox import ATTENTION
from outreach.core.problems import Problem
from outreach.core.rules import RuleFile
from outreach.core.timing import zone
from outreach.errors import OutreachError, UsageError, UserError
from outreach.history_reports import (
    changes_lines,
    redacted,
    row_json,
    rows_table,
    run_json,
    run_lines,
    status_lines,
)
from outreach.reports import (
    decisions_html,
    decisions_json,
    decisions_table,
    mention_json,
    print_feed_reports,
    print_mentions,
    summary,
)
from outreach.services.channels import ChannelSet, redactor
from outreach.services.init import create_workspace
from outreach.services.preview import preview as plan_preview
from outreach.services.queue import Change, approve, listed, reject, retry, waiting_keys
from outreach.services.workspace import (
    Workspace,
    find_root,
    load_config,
    load_workspace,
    reading_order,
    workspace_file,
)
from outreach.terminal import cell, visible, visible_json

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_PROBLEMS = 20


class OutreachCommand(click.Command):
    """Turns outreach's own errors into exit codes 1 and 2, with this command's help."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise click.UsageError(visible(str(exc)), ctx) from None
        except OutreachError as exc:
            raise click.ClickException(visible(str(exc))) from None
        except IntegrityError:
            raise  # a bug, not a store to fix
        except DatabaseError as exc:  # a store locked, gone, unreachable or damaged
            raise click.ClickException(visible(f"store: {exc.orig}; {advice(exc)}")) from None


class Outreach(click.Group):
    command_class = OutreachCommand


@click.group(cls=Outreach, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="outreach")
def cli() -> None:
    """Personal outreach at scale: rules and templates, carried out on time."""


def workspace_option(command: F) -> F:
    return click.option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="Workspace folder (default: $OUTREACH_WORKSPACE, else the current folder).",
    )(command)


def now_option(command: F) -> F:
    return click.option(
        "--now",
        metavar="ISO",
        help="Pretend it is this moment, e.g. 2026-12-01T08:00:00+00:00 (no offset: the "
        "workspace's time zone).",
    )(command)


def _open(workspace_dir: str | None, news: bool = False) -> Workspace:
    """The workspace; with `news`, its data also holds the news mentions known so far (when
    a rule listens for them: finding them costs a second or two)."""
    loaded = load_workspace(find_root(workspace_dir))
    if news and loaded.watches_news:
        from outreach.services.news import mentions_for_planning

        loaded.data = with_mentions(loaded.data, mentions_for_planning(loaded))
    return loaded


def _now(workspace: Workspace, text: str | None) -> datetime:
    if text is None:
        return system_clock()
    try:
        moment = parse_now(text, zone(workspace.config.timezone))
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None
    if not 1900 <= moment.year <= 2999:
        raise UsageError("--now: pick a moment between the years 1900 and 2999")
    return moment


def _report_problems(problems: Sequence[Problem], limit: int | None = SHOWN_PROBLEMS) -> None:
    shown = problems if limit is None else problems[:limit]
    _echo_lines(map(str, shown), err=True)
    if limit is not None and len(problems) > limit:
        click.echo(f"... and {len(problems) - limit} more: run `outreach validate`", err=True)


def _finish(workspace: Workspace) -> None:
    """Exit 1 when the workspace had errors, after the command did what it could."""
    if workspace.errors:
        sys.exit(1)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140, soft_wrap=False)


def _echo_lines(lines: Iterable[str], err: bool = False) -> None:
    """Lines that quote data (names, cells, errors) as they are safe to show on a terminal."""
    for line in lines:
        click.echo(visible(line), err=err)


def _echo_json(value: Any) -> None:
    click.echo(visible_json(json.dumps(value, ensure_ascii=False, indent=2, default=str)))


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

    loaded = _open(workspace, news=days > 0)
    found = [*loaded.problems, *unset_variables(loaded, os.environ)]
    if days:
        found += dry_run(loaded, _now(loaded, now), days)
    loaded.problems = sorted(found, key=reading_order)
    _report_problems(loaded.problems, limit=None)
    errors, warnings = len(loaded.errors), len(loaded.problems) - len(loaded.errors)
    rules, contacts = len(loaded.engine.rules), len(loaded.data.contacts)
    if errors:
        click.echo(f"{errors} errors, {warnings} warnings", err=True)
        sys.exit(1)
    click.echo(
        f"ok: {rules} rules, {contacts} contacts" + (f", {warnings} warnings" if warnings else ""),
        err=True,
    )


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
    loaded = _open(workspace, news=True)
    out = None if out is not None and str(out) == "-" else out
    if out is not None and (used := workspace_file(loaded, out)):
        raise UsageError(f"--out {out} is {used}, which the workspace uses; pick another file")
    moment = _now(loaded, now)
    decisions = plan_preview(loaded, moment, days, rule_id, contact_id)
    _report_problems(loaded.problems)
    if fmt == "json":
        _emit(visible_json(decisions_json(decisions)) + "\n", out)
    elif fmt == "html":
        title = f"outreach preview — {loaded.root.resolve().name}"
        _emit(decisions_html(decisions, title, moment, days), out)
    elif out is not None:
        table = io.StringIO()
        decisions_table(decisions, Console(file=table, width=160, no_color=True))
        _emit(table.getvalue(), out)
    else:
        decisions_table(decisions, _console())
    if out is not None:
        _echo_lines([f"wrote {summary(decisions)} to {out}"], err=True)
    _finish(loaded)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(visible(text, lines=True), nl=False)
        return
    try:
        write_regular(out, text.encode("utf-8"))
    except (OSError, Refused) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise UserError(f"--out {out}: cannot write it ({reason}); pick another file") from None


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
    loaded = _open(workspace, news=True)
    _report_problems(loaded.problems)
    if contact_id not in loaded.data.contacts:
        raise UsageError(f"no contact '{contact_id}' in the contacts file")
    if rule_id is not None and rule_id not in {r.id for r in loaded.engine.rules}:
        raise UsageError(f"no rule '{rule_id}'")
    moment = _now(loaded, now)
    found = explain(loaded.engine, loaded.data, contact_id, moment, rule_id)
    if fmt == "json":
        _echo_json([_explanation_json(e) for e in found])
    else:
        _print_explanations(loaded, contact_id, moment, found)
    _finish(loaded)


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
    console = _console()
    now = moment.isoformat(timespec="minutes")
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


@cli.group(cls=Outreach)
def feeds() -> None:
    """News feeds: scan them for stories about client companies."""


@feeds.command(name="scan")
@workspace_option
@now_option
@click.option("--dry-run", is_flag=True, help="Fetch and match, but store nothing.")
def feeds_scan(workspace: str | None, now: str | None, dry_run: bool) -> None:
    """Fetch every feed, store new stories, report the companies they mention."""
    from outreach.services.news import feed_sources, scan_feeds

    loaded = _open(workspace)
    sources, problems = feed_sources(loaded)
    _report_problems([*loaded.problems, *problems])
    moment = _now(loaded, now)
    console = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), console=console, transient=True) as progress:
        task = progress.add_task("feeds", total=len(sources))
        reports = scan_feeds(loaded, moment, dry_run, lambda *_: progress.advance(task))
    print_feed_reports(reports, _console(), dry_run)
    if loaded.errors or problems or any(r.status == "error" for r in reports):
        sys.exit(1)


@cli.command()
@workspace_option
@click.option(
    "--text",
    "text_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plain-text article.",
)
@click.option(
    "--feed",
    "feed_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An RSS or Atom file.",
)
@click.option(
    "--language",
    metavar="CODE",
    help="Language of the text (default: the feed's, else the workspace locale's).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def mentions(
    workspace: str | None,
    text_file: Path | None,
    feed_file: Path | None,
    language: str | None,
    fmt: str,
) -> None:
    """Company mentions found in a text or a feed file."""
    from outreach.services.news import mentions_in_file

    if (text_file is None) == (feed_file is None):
        raise UsageError("give exactly one of --text FILE or --feed FILE")
    loaded = _open(workspace)
    _report_problems(loaded.problems)
    path = text_file or feed_file
    assert path is not None
    found = mentions_in_file(loaded, path, feed_file is not None, language)
    rows = [mention_json(m) for m in found]
    if fmt == "json":
        _echo_json(rows)
    else:
        print_mentions(rows, _console())
    _finish(loaded)


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


# --- dispatch ------------------------------------------------------------------------------


def _channels(loaded: Workspace) -> ChannelSet:
    return ChannelSet(loaded.config, loaded.root, os.environ)


def _store(workspace_dir: str | None, create: bool = False) -> Store | None:
    """The workspace's store, from its config alone (no data is loaded); None when a SQLite
    store does not exist yet."""
    root = find_root(workspace_dir)
    problems: list[Problem] = []
    config = load_config(root, problems)
    return Store.of(config, root, create=create)


def _require_store(workspace_dir: str | None) -> Store:
    """The store, for a command that changes it: the one this workspace has used."""
    from outreach.adapters.store.identity import open_lasting

    root = find_root(workspace_dir)
    store = open_lasting(load_config(root, []), root, create=False)
    if store is None:
        raise UserError("nothing recorded yet: the store does not exist (run `outreach run`)")
    return store


def new_store_option(command: F) -> F:
    return click.option(
        "--new-store",
        is_flag=True,
        help="Start over with the configured store although it is not the one this workspace "
        "has used (the old one was lost): what it knew is forgotten, notes may go again.",
    )(command)


@cli.command()
@workspace_option
@now_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@new_store_option
def run(workspace: str | None, now: str | None, fmt: str, new_store: bool) -> None:
    """One pass: plan, record, then send what is due. Safe from cron every minute.

    --now may be in the past (send what was due then, as if it were that moment), never in
    the future."""
    from outreach.adapters.store.identity import open_lasting
    from outreach.services.dispatch import run_once

    loaded = _open(workspace, news=True)
    _report_problems(loaded.problems)
    moment = _now(loaded, now) if now else None
    if moment is not None and moment > system_clock() + timedelta(minutes=1):
        raise UsageError(
            "--now is in the future: run would send today what is due then; "
            "use `outreach preview --now` to look ahead"
        )
    store = open_lasting(loaded.config, loaded.root, new_store)
    assert store is not None
    clock = fixed_clock(moment) if moment else system_clock
    channels = _channels(loaded)
    report = run_once(loaded, store, channels, clock)
    if fmt == "json":  # redacted again: a channel pause an older outreach stored is shown
        _echo_json(channels.redact.tree(run_json(report)))
    else:
        _echo_lines(map(channels.redact, run_lines(report)))
    if loaded.errors or report.needs_operator or report.errors:
        sys.exit(1)


@cli.group(cls=Outreach)
def queue() -> None:
    """What waits in the outbox: list it, approve or reject it, send it again."""


@queue.command(name="list")
@workspace_option
@click.option("--status", "statuses", multiple=True, metavar="S", help="Only these statuses.")
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def queue_list(
    workspace: str | None, statuses: tuple[str, ...], rule_id: str | None, fmt: str
) -> None:
    """Actions not yet done: waiting for approval, pending, retrying, or needing a person
    (ambiguous, or in error: they cannot be prepared until something is fixed)."""
    store = _store(workspace)
    chosen = list(statuses) or list(ATTENTION)
    rows = listed(store, chosen, rule=rule_id) if store else []
    _print_rows(rows, fmt, "outbox: " + ", ".join(chosen), workspace)


@queue.command(name="approve")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@workspace_option
@click.option("--all", "every", is_flag=True, help="Every action waiting for approval.")
@click.option("--rule", "rule_id", metavar="ID", help="With --all: only this rule's.")
def queue_approve(
    keys: tuple[str, ...], workspace: str | None, every: bool, rule_id: str | None
) -> None:
    """Let actions that wait for approval go when their time comes."""
    if every == bool(keys):
        raise UsageError("give KEY... or --all (with --rule ID to narrow it)")
    if rule_id and not every:
        raise UsageError("--rule goes with --all")
    store = _require_store(workspace)
    chosen = waiting_keys(store, rule_id) if every else list(keys)
    if every and not chosen:
        _echo_lines(["nothing waits for approval" + (f" for {rule_id}" if rule_id else "")])
        return
    _report_changes(approve(store, chosen, system_clock()))


@queue.command(name="reject")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@workspace_option
def queue_reject(keys: tuple[str, ...], workspace: str | None) -> None:
    """Never send these actions."""
    _report_changes(reject(_require_store(workspace), list(keys), system_clock()))


@queue.command(name="retry")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@workspace_option
def queue_retry(keys: tuple[str, ...], workspace: str | None) -> None:
    """Send again actions that are dead, ambiguous, cancelled, late or rejected."""
    _report_changes(retry(_require_store(workspace), list(keys), system_clock()))


def _report_changes(changes: list[Change]) -> None:
    _echo_lines(changes_lines(changes))
    if not all(c.done for c in changes):
        sys.exit(1)


@cli.command()
@workspace_option
@click.option("--contact", "contact_id", metavar="ID", help="Only this contact.")
@click.option("--status", "statuses", multiple=True, metavar="S", help="Only these statuses.")
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def history(
    workspace: str | None,
    contact_id: str | None,
    statuses: tuple[str, ...],
    rule_id: str | None,
    fmt: str,
) -> None:
    """Everything in the outbox: what was sent, when, through what, with its status."""
    store = _store(workspace)
    rows = listed(store, list(statuses) or None, contact_id, rule_id) if store else []
    _print_rows(rows, fmt, "history", workspace)


def _print_rows(rows: Sequence[OutboxRow], fmt: str, title: str, workspace: str | None) -> None:
    secrets = redactor(load_config(find_root(workspace), []), os.environ)
    rows = [redacted(row, secrets) for row in rows]  # as an older outreach may have stored them
    if fmt == "json":
        _echo_json([row_json(r) for r in rows])
    elif rows:
        rows_table(rows, _console(), title)
    else:
        _echo_lines([f"{title}: nothing"], err=True)


@cli.command(name="send-test")
@click.argument("rule_id", metavar="RULE")
@click.argument("contact_id", metavar="CONTACT")
@click.option("--to", "to", required=True, metavar="ADDRESS", help="Your own address.")
@workspace_option
@now_option
def send_test_command(
    rule_id: str, contact_id: str, to: str, workspace: str | None, now: str | None
) -> None:
    """Render RULE's real message for CONTACT and email it to ADDRESS (nothing is recorded)."""
    from outreach.services.send_test import send_test

    loaded = _open(workspace, news=True)
    _report_problems(loaded.problems)
    decision, delivery = send_test(
        loaded, _channels(loaded), rule_id, contact_id, to, _now(loaded, now)
    )
    occasion = decision.send_at.isoformat(timespec="minutes")
    if delivery.outcome != "sent":
        raise UserError(f"the test did not go: {delivery.error}")
    _echo_lines([f"sent to {to}: {decision.rule_id} for {contact_id} (occasion at {occasion})"])


# --- the store's schema --------------------------------------------------------------------


@cli.group(cls=Outreach)
def db() -> None:
    """The store's schema: where it stands, and bringing it up to date."""


@db.command(name="status")
@workspace_option
def db_status(workspace: str | None) -> None:
    """The store's schema revision, and whether `outreach db upgrade` is needed."""
    from outreach.adapters.store import migrations

    shown, found = _schema(workspace, upgrade=False)
    head = migrations.head()
    if found is None or found[0] is None:
        click.echo(f"store {shown}: not made yet; it is made at schema {head} on first use")
    elif found[0] == head:
        click.echo(f"store {shown}: schema {head}, up to date")
    elif not migrations.known(found[0]):
        raise UserError(f"store {shown}: schema {found[0]}, made by a newer outreach than this")
    else:
        raise UserError(
            f"store {shown}: schema {found[0]}; this outreach needs {head}: back the store up, "
            "then run `outreach db upgrade`"
        )


@db.command(name="upgrade")
@workspace_option
def db_upgrade(workspace: str | None) -> None:
    """Bring the store's schema up to this outreach's (back the store up first)."""
    shown, found = _schema(workspace, upgrade=True)
    if found is None:
        click.echo(f"store {shown}: not made yet; nothing to upgrade")
    elif found[0] == found[1]:
        click.echo(f"store {shown}: schema {found[1]}, already up to date")
    else:
        click.echo(f"store {shown}: upgraded from schema {found[0] or 'none'} to {found[1]}")


def _schema(workspace: str | None, upgrade: bool) -> tuple[str, tuple[str | None, str] | None]:
    """The store as shown, and its schema revision and this outreach's (`Store.schema`)."""
    from outreach.adapters.store import shown_url

    root = find_root(workspace)
    config = load_config(root, [])
    found = Store.schema(config.store, root, upgrade, config.outside_workspace)
    return shown_url(config.store), found


# --- daemon --------------------------------------------------------------------------------


@cli.command()
@workspace_option
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option("--dispatch-every", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds between dispatch ticks.")  # fmt: skip
@click.option("--plan-every", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds between planning ticks (also at once after an edit).")  # fmt: skip
@click.option("--watch-every", type=click.FloatRange(min=0.5), default=5, show_default=True,
              help="Seconds between looks at the workspace's files.")  # fmt: skip
@click.option("--removal-grace", type=click.FloatRange(min=0), default=300, show_default=True,
              help="Seconds a rule stays gone before its actions are cancelled.")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(1, 65535), metavar="PORT",
              help="Serve Prometheus metrics on 127.0.0.1:PORT.")  # fmt: skip
@new_store_option
def daemon(
    workspace: str | None,
    log_format: str,
    log_level: str,
    dispatch_every: float,
    plan_every: float,
    watch_every: float,
    removal_grace: float,
    metrics_port: int | None,
    new_store: bool,
) -> None:
    """Run until stopped: poll feeds, plan, dispatch; reload on edits. One per SQLite store."""
    from outreach import logs
    from outreach.daemon import Schedule, exit_on_signals
    from outreach.daemon import main as run_daemon
    from outreach.services.runtime import Runtime

    exit_on_signals()
    logs.setup(log_format, log_level)
    runtime = Runtime.start(find_root(workspace), os.environ, new_store=new_store)
    if metrics_port is not None:
        from outreach.metrics import Metrics

        metrics = Metrics(runtime.queue_counts)
        metrics.serve(metrics_port)
        runtime.on_tick = metrics.on_tick
    run_daemon(runtime, Schedule(dispatch_every, plan_every, watch_every, removal_grace))


@cli.command(name="status")
@workspace_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def status_command(workspace: str | None, fmt: str) -> None:
    """Is a daemon running; last ticks; the outbox by state; feeds; the next ten sends."""
    from outreach.services.status import status

    loaded = _open(workspace, news=True)
    secrets = redactor(loaded.config, os.environ)  # in what an older outreach stored
    found = secrets.tree(status(loaded, system_clock()))
    if fmt == "json":
        _echo_json(found)
    else:
        _echo_lines(status_lines(found))


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a name still shows
        if isinstance(stream, io.TextIOWrapper):  # the rest (`\u00fe` for what it cannot)
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="outreach")
