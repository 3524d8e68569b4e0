"""What every command shares: the group, the options, opening the workspace and its
store, and printing (terminal-safe, redacted) — the commands themselves are thin."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from sqlalchemy.exc import DatabaseError, IntegrityError

from outreach import __version__, bootstrap
from outreach.adapters.sources.files import Refused, write_regular
from outreach.adapters.store.connection import advice
from outreach.clock import parse_now, system_clock
from outreach.core.model import with_mentions
from outreach.core.outbox import OutboxRow
from outreach.core.problems import Problem
from outreach.core.timing import zone
from outreach.errors import OutreachError, UsageError, UserError
from outreach.history_reports import (
    changes_lines,
    redacted,
    row_json,
    rows_table,
    shown_rows,
)
from outreach.ports import Store
from outreach.services.channels import ChannelSet, redactor
from outreach.services.queue import Change
from outreach.services.workspace import (
    Workspace,
    find_root,
    load_config,
    load_workspace,
)
from outreach.terminal import visible, visible_json

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


def open_workspace(workspace_dir: str | None, news: bool = False) -> Workspace:
    """The workspace; with `news`, its data also holds the news mentions known so far (when
    a rule listens for them: finding them costs a second or two)."""
    loaded = load_workspace(find_root(workspace_dir))
    if news and loaded.watches_news:
        from outreach.services.news import mentions_for_planning

        loaded.data = with_mentions(loaded.data, mentions_for_planning(loaded))
    return loaded


def when(workspace: Workspace, text: str | None) -> datetime:
    if text is None:
        return system_clock()
    try:
        moment = parse_now(text, zone(workspace.config.timezone))
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None
    if not 1900 <= moment.year <= 2999:
        raise UsageError("--now: pick a moment between the years 1900 and 2999")
    return moment


def report_problems(problems: Sequence[Problem], limit: int | None = SHOWN_PROBLEMS) -> None:
    shown = problems if limit is None else problems[:limit]
    echo_lines(map(str, shown), err=True)
    if limit is not None and len(problems) > limit:
        click.echo(f"... and {len(problems) - limit} more: run `outreach validate`", err=True)


def exit_on_errors(workspace: Workspace) -> None:
    """Exit 1 when the workspace had errors, after the command did what it could."""
    if workspace.errors:
        say_if_blocked(workspace)
        sys.exit(1)


def say_if_blocked(workspace: Workspace) -> None:
    """Tell a dry run's user when `run` and the daemon would send nothing at all."""
    if workspace.unsafe_to_send:
        echo_lines([f"nothing is sent until this is fixed: {workspace.unsafe_to_send}"], err=True)


def say_if_moved(workspace: Workspace, moment: datetime) -> None:
    """Say, on stderr, that the data's dates are moved (`data_dated_for`)."""
    from outreach.services.moving_dates import moved_note

    note = moved_note(workspace, moment)
    if note:
        echo_lines([note], err=True)


def terminal(wide: bool = False) -> Console:
    """The console tables are printed on: the terminal's width ($COLUMNS when set), 140
    columns into a pipe; `wide`, as wide as a table needs (long keys stay whole)."""
    if wide:
        return Console(width=100_000, soft_wrap=False)
    columns = os.environ.get("COLUMNS", "")
    width = None if sys.stdout.isatty() or columns.isdigit() else 140
    return Console(width=width, soft_wrap=False)


def echo_lines(lines: Iterable[str], err: bool = False) -> None:
    """Lines that quote data (names, cells, errors) as they are safe to show on a terminal."""
    for line in lines:
        click.echo(visible(line), err=err)


def echo_json(value: Any) -> None:
    click.echo(visible_json(json.dumps(value, ensure_ascii=False, indent=2, default=str)))


def emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(visible(text, lines=True), nl=False)
        return
    try:
        write_regular(out, text.encode("utf-8"))
    except (OSError, Refused) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise UserError(f"--out {out}: cannot write it ({reason}); pick another file") from None


def channels_of(loaded: Workspace) -> ChannelSet:
    return bootstrap.channels(loaded.config, loaded.root, os.environ)


def store_of(workspace_dir: str | None, create: bool = False) -> Store | None:
    """The workspace's store, from its config alone (no data is loaded); None when a SQLite
    store does not exist yet."""
    root = find_root(workspace_dir)
    problems: list[Problem] = []
    config = load_config(root, problems)
    return bootstrap.reading_store(config, root, create=create)


def require_store(workspace_dir: str | None) -> Store:
    """The store, for a command that changes it: the one this workspace has used."""
    root = find_root(workspace_dir)
    store = bootstrap.lasting_store(load_config(root, []), root, create=False)
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


def report_changes(changes: list[Change]) -> None:
    echo_lines(changes_lines(changes))
    if not all(c.done for c in changes):
        sys.exit(1)


def print_rows(
    rows: Sequence[OutboxRow],
    store: Store | None,
    fmt: str,
    title: str,
    workspace: str | None,
    wide: bool = False,
) -> None:
    from outreach.services.queue import handles_of

    config = load_config(find_root(workspace), [])
    secrets = redactor(config, os.environ)
    rows = [redacted(row, secrets) for row in rows]  # as an older outreach may have stored them
    handles = handles_of(store, rows) if store is not None else {}
    shown, now = shown_rows(rows, handles, zone(config.timezone)), system_clock()
    if fmt == "json":
        echo_json([row_json(r, now) for r in shown])
    elif rows:
        rows_table(shown, now, terminal(wide), title, wide)
    else:
        echo_lines([f"{title}: nothing"], err=True)


def by_whom() -> str:
    """Who is at the keyboard, for the note a queue command leaves on a row."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container)
        return "an unnamed user"
