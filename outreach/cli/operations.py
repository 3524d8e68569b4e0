"""Commands for operators: daemon, status, db."""

from __future__ import annotations

import os

import click

from outreach import bootstrap
from outreach.cli.common import (
    Outreach,
    channels_of,
    cli,
    echo_json,
    echo_lines,
    new_store_option,
    open_workspace,
    workspace_option,
)
from outreach.clock import system_clock
from outreach.errors import UserError
from outreach.services.workspace import (
    find_root,
    load_config,
)
from outreach.status_reports import status_json, status_lines


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
    if found is None or found[0] is None:
        click.echo(f"store {shown}: not made yet; nothing to upgrade")
    elif found[0] == found[1]:
        click.echo(f"store {shown}: schema {found[1]}, already up to date")
    else:
        click.echo(f"store {shown}: upgraded from schema {found[0] or 'none'} to {found[1]}")


def _schema(workspace: str | None, upgrade: bool) -> tuple[str, tuple[str | None, str] | None]:
    """The store as shown, and its schema revision and this outreach's (`bootstrap.schema`)."""
    from outreach.adapters.store.location import shown_url

    root = find_root(workspace)
    config = load_config(root, [])
    found = bootstrap.schema(config, root, upgrade)
    return shown_url(config.store), found


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
    """Is a daemon running, and on what; last ticks (stale ones marked); channels that cannot
    send; the outbox by state; feeds; the next ten sends, overdue ones first."""
    from outreach.services.status import status

    loaded = open_workspace(workspace, news=True)
    channels = channels_of(loaded)
    found = status(loaded, system_clock(), channels)
    secrets = channels.redact  # in what an older outreach stored
    if fmt == "json":
        echo_json(secrets.tree(status_json(found)))
    else:
        echo_lines(map(secrets, status_lines(found)))
