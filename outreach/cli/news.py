"""Commands for news: feeds scan, mentions."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from outreach.cli.common import (
    Outreach,
    cli,
    echo_json,
    exit_on_errors,
    now_option,
    open_workspace,
    report_problems,
    terminal,
    when,
    workspace_option,
)
from outreach.errors import UsageError
from outreach.reports import (
    mention_json,
    print_feed_reports,
    print_mentions,
)


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

    loaded = open_workspace(workspace)
    sources, problems = feed_sources(loaded)
    report_problems([*loaded.problems, *problems])
    moment = when(loaded, now)
    console = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), console=console, transient=True) as progress:
        task = progress.add_task("feeds", total=len(sources))
        reports = scan_feeds(loaded, moment, dry_run, lambda *_: progress.advance(task))
    print_feed_reports(reports, terminal(), dry_run)
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
    loaded = open_workspace(workspace)
    report_problems(loaded.problems)
    path = text_file or feed_file
    assert path is not None
    found = mentions_in_file(loaded, path, feed_file is not None, language)
    rows = [mention_json(m) for m in found]
    if fmt == "json":
        echo_json(rows)
    else:
        print_mentions(rows, terminal())
    exit_on_errors(loaded)
