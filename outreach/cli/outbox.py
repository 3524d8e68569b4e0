"""Commands for the outbox: run, queue, history, send-test."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from outreach import bootstrap
from outreach.cli.common import (
    F,
    Outreach,
    by_whom,
    channels_of,
    cli,
    echo_json,
    echo_lines,
    new_store_option,
    now_option,
    open_workspace,
    print_rows,
    report_changes,
    report_problems,
    require_store,
    say_if_moved,
    store_of,
    when,
    workspace_option,
)
from outreach.clock import system_clock
from outreach.core.display import local_time
from outreach.core.outbox import ATTENTION
from outreach.errors import UsageError, UserError
from outreach.history_reports import (
    run_json,
    run_lines,
)
from outreach.services.queue import approve, listed, reject, retry, waiting_keys


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
    the future; what is sent is recorded at the real time."""
    from outreach.services.dispatch import run_once

    loaded = open_workspace(workspace, news=True)
    report_problems(loaded.problems)
    moment = when(loaded, now) if now else None
    if moment is not None and moment > system_clock() + timedelta(minutes=1):
        raise UsageError(
            "--now is in the future: run would send today what is due then; "
            "use `outreach preview --now` to look ahead"
        )
    store = bootstrap.lasting_store(loaded.config, loaded.root, new_store)
    assert store is not None
    # --now only chooses what is due: what is recorded as done is the real time.
    clock = bootstrap.clock(moment)
    channels = channels_of(loaded)
    say_if_moved(loaded, clock())
    report = run_once(loaded, store, channels, clock, wall=system_clock)
    if fmt == "json":  # redacted again: a channel pause an older outreach stored is shown
        echo_json(channels.redact.tree(run_json(report)))
    else:
        echo_lines(map(channels.redact, run_lines(report)))
    if loaded.errors or report.needs_operator or report.errors:
        sys.exit(1)


def table_options(command: F) -> F:
    """`--format table|json` and `--wide`, for the commands that list outbox rows."""
    command = click.option(
        "--wide", is_flag=True, help="Also the full keys and provider ids (lines get long)."
    )(command)
    return click.option(
        "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
        show_default=True,
    )(command)  # fmt: skip


@cli.group(cls=Outreach)
def queue() -> None:
    """What waits in the outbox: list it, approve or reject it, send it again."""


@queue.command(name="list")
@workspace_option
@click.option("--status", "statuses", multiple=True, metavar="S", help="Only these statuses.")
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@table_options
def queue_list(
    workspace: str | None, statuses: tuple[str, ...], rule_id: str | None, fmt: str, wide: bool
) -> None:
    """Actions not yet done: waiting for approval, pending, retrying, or needing a person
    (ambiguous, or in error: they cannot be prepared until something is fixed)."""
    store = store_of(workspace)
    chosen = list(statuses) or list(ATTENTION)
    rows = listed(store, chosen, rule=rule_id) if store else []
    print_rows(rows, store, fmt, "outbox: " + ", ".join(chosen), workspace, wide)


@queue.command(name="approve")
@click.argument("keys", nargs=-1, metavar="[KEY|HANDLE]...")
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
    store = require_store(workspace)
    chosen = waiting_keys(store, rule_id) if every else list(keys)
    if every and not chosen:
        echo_lines(["nothing waits for approval" + (f" for {rule_id}" if rule_id else "")])
        return
    report_changes(approve(store, chosen, system_clock(), by_whom()))


@queue.command(name="reject")
@click.argument("keys", nargs=-1, required=True, metavar="KEY|HANDLE...")
@workspace_option
def queue_reject(keys: tuple[str, ...], workspace: str | None) -> None:
    """Never send these actions."""
    report_changes(reject(require_store(workspace), list(keys), system_clock(), by_whom()))


@queue.command(name="retry")
@click.argument("keys", nargs=-1, required=True, metavar="KEY|HANDLE...")
@workspace_option
def queue_retry(keys: tuple[str, ...], workspace: str | None) -> None:
    """Send again actions that are dead, ambiguous, cancelled, late or rejected."""
    report_changes(retry(require_store(workspace), list(keys), system_clock(), by_whom()))


@cli.command()
@workspace_option
@click.option("--contact", "contact_id", metavar="ID", help="Only this contact.")
@click.option("--status", "statuses", multiple=True, metavar="S", help="Only these statuses.")
@click.option("--rule", "rule_id", metavar="ID", help="Only this rule.")
@table_options
def history(
    workspace: str | None,
    contact_id: str | None,
    statuses: tuple[str, ...],
    rule_id: str | None,
    fmt: str,
    wide: bool,
) -> None:
    """Everything in the outbox: what was sent, when, through what, with its status."""
    store = store_of(workspace)
    rows = listed(store, list(statuses) or None, contact_id, rule_id) if store else []
    print_rows(rows, store, fmt, "history", workspace, wide)


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

    loaded = open_workspace(workspace, news=True)
    report_problems(loaded.problems)
    decision, delivery = send_test(
        loaded, channels_of(loaded), rule_id, contact_id, to, when(loaded, now)
    )
    occasion = local_time(decision.send_at)
    if delivery.outcome != "sent":
        raise UserError(f"the test did not go: {delivery.error}")
    echo_lines([f"sent to {to}: {decision.rule_id} for {contact_id} (occasion at {occasion})"])
