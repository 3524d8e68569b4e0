"""Test helpers: build a workspace in a temporary folder, and run the CLI in-process.

    ws = make_workspace(
        tmp_path,
        contacts=[{"id": "c-1", "first_name": "Ada", "email": "ada@example.test",
                   "birthday": "1985-12-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    result = run_cli("preview", "--workspace", ws, "--now", NOW, "--format", "json")
    plan = json.loads(result.stdout)

`make_workspace` writes `outreach.yaml` (sensible defaults, deep-merged with `config`), the
data files under `data/` (always all of them, empty when not given, so that a missing file is
never the accidental cause of an error), `rules/` and `templates/`. Each data argument is either
structured (list of dicts / strings) or the file's exact text, for tests that count lines.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

DEFAULT_CONFIG: dict[str, Any] = {
    "timezone": "UTC",
    "locale": "en",
    "store": "sqlite:///outreach.db",
    "data": {
        "contacts": "data/contacts.csv",
        "companies": "data/companies.yaml",
        "purchases": "data/purchases.csv",
        "feeds": "data/feeds.yaml",
        "suppressions": "data/suppressions.csv",
    },
    "channels": {
        "email": {
            "provider": "smtp",
            "host": "localhost",
            "port": 25,
            "from": "Test Co <hello@example.test>",
        },
        "gifts": {"provider": "file", "path": "out/gift-tasks.jsonl"},
        "tasks": {"provider": "file", "path": "out/tasks.jsonl"},
    },
}

CONTACT_HEADER = ("id", "first_name", "last_name", "email", "birthday", "timezone", "locale")
PURCHASE_HEADER = ("id", "contact_id", "date", "amount", "currency", "product")

# A fixed moment for tests; pass it as --now, never rely on the real clock.
NOW = "2026-06-01T08:00:00+00:00"

# Small, sound building blocks -----------------------------------------------------------

BIRTHDAY_RULE = """\
rules:
  - id: birthday-note
    trigger:
      birthday: {lead_days: 0}
    action:
      email: {template: birthday}
    schedule: {at: "09:00", late_by_at_most: 2d}
"""

# A task for the account manager at each order over 100, written to the tasks sink.
BIG_ORDER_RULE = """\
rules:
  - id: big-order
    trigger:
      purchase_milestone: {single_amount_over: 100}
    action:
      task: {template: note, assignee: am@acme.test}
"""
NOTE_TEMPLATE = (
    "{% block subject %}For {{ contact.id }}{% endblock %}{% block text %}x{% endblock %}"
)


def big_order(purchase_id: str, contact: str) -> dict[str, object]:
    """A purchase of 500 EUR on the day of NOW."""
    return {"id": purchase_id, "contact_id": contact, "date": NOW[:10], "amount": 500,
            "currency": "EUR", "product": "p"}  # fmt: skip


BIRTHDAY_TEMPLATE = """\
{% block subject %}Happy birthday, {{ contact.first_name }}!{% endblock %}
{% block text %}Dear {{ contact.first_name }},

all the best for the year ahead.{% endblock %}
"""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`; nested mappings merge, a None value removes the key."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def csv_text(rows: Sequence[Mapping[str, Any]], header: Sequence[str] = ()) -> str:
    """CSV with `header` first, then every other key in order of first appearance."""
    columns = list(header)
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row[c]) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def make_workspace(
    root: Path,
    *,
    config: Mapping[str, Any] | str | None = None,
    contacts: Sequence[Mapping[str, Any]] | str | None = None,
    purchases: Sequence[Mapping[str, Any]] | str | None = None,
    companies: Sequence[Mapping[str, Any]] | str | None = None,
    suppressions: Sequence[str] | str | None = None,
    feeds: Sequence[Mapping[str, Any]] | str | None = None,
    rules: Mapping[str, str] | None = None,
    templates: Mapping[str, str] | None = None,
) -> Path:
    """Write a workspace into `root` (created if needed) and return `root`.

    `config` is merged over DEFAULT_CONFIG (a None value removes a key), or, as a string, is
    written verbatim. `rules` and `templates` map file names (relative to rules/ and
    templates/) to their text. Data given as a string is written verbatim; as structured
    values it becomes CSV/YAML with SPEC column names.
    """
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(config, str):
        _write(root / "outreach.yaml", config)
        data_paths = DEFAULT_CONFIG["data"]
    else:
        merged = deep_merge(DEFAULT_CONFIG, config or {})
        _write(root / "outreach.yaml", yaml.safe_dump(merged, sort_keys=False, allow_unicode=True))
        data_paths = {**DEFAULT_CONFIG["data"], **merged.get("data", {})}

    def target(name: str) -> Path | None:
        relative = data_paths.get(name)
        return None if relative is None else root / relative

    files: dict[str, str] = {}
    files["contacts"] = (
        contacts if isinstance(contacts, str) else csv_text(contacts or [], CONTACT_HEADER)
    )
    files["purchases"] = (
        purchases if isinstance(purchases, str) else csv_text(purchases or [], PURCHASE_HEADER)
    )
    files["companies"] = (
        companies
        if isinstance(companies, str)
        else yaml.safe_dump({"companies": list(companies or [])}, allow_unicode=True)
    )
    files["suppressions"] = (
        suppressions
        if isinstance(suppressions, str)
        else "email\n" + "".join(f"{e}\n" for e in suppressions or [])
    )
    files["feeds"] = (
        feeds if isinstance(feeds, str) else yaml.safe_dump({"feeds": list(feeds or [])})
    )
    for name, text in files.items():
        path = target(name)
        if path is not None:
            _write(path, text)
    for filename, text in (rules or {}).items():
        _write(root / "rules" / filename, text)
    for filename, text in (templates or {}).items():
        _write(root / "templates" / filename, text)
    return root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server to start on, or not)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def chdir(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    catch_exceptions: bool = False,
) -> Result:
    """Run `outreach ARGS...` in-process; stdout and stderr are kept apart
    (`result.stdout`, `result.stderr`). An unexpected exception propagates (a crash is a bug),
    unless `catch_exceptions`."""
    from outreach.cli import cli

    runner = CliRunner()
    environment = {"OUTREACH_WORKSPACE": None, "COLUMNS": "200", **(env or {})}
    with chdir(cwd):
        return runner.invoke(
            cli,
            [str(a) for a in args],
            env=environment,
            input=input,
            catch_exceptions=catch_exceptions,
            prog_name="outreach",
        )


def preview_json(workspace: Path, *extra: str, now: str = NOW, days: int = 30) -> list[dict]:
    """`outreach preview --format json`; asserts stdout is one JSON array and returns it."""
    result = run_cli(
        "preview",
        "--workspace",
        workspace,
        "--now",
        now,
        "--days",
        str(days),
        "--format",
        "json",
        *extra,
    )
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    plan = json.loads(result.stdout)
    assert isinstance(plan, list)
    return plan


def outgoing_email(key: str = "birthday:c-1:2026", **details: object) -> Any:
    """An email as a channel is handed it (built from a row as the outbox holds it), for
    driving channels directly."""
    from outreach.core.outbox import OutboxRow

    return OutboxRow(
        key=key,
        rule_id="birthday",
        contact_id="c-1",
        action="email",
        channel="email",
        status="sending",
        send_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
        payload={
            "subject": "Happy birthday, Ada!",
            "text": "Dear Ada,\n\nAll the best.",
            "html": "<p>Dear Ada,</p>",
            "locale": "en",
            "details": {
                "to": "ada@client.test",
                "from": "Anna Jónsdóttir <anna@acme.test>",
                "reply_to": "anna@acme.test",
                **details,
            },
        },
        attempts=0,
        provider_id=None,
        last_error=None,
        updated_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
    ).outgoing()


def sendgrid_channels(url: str, gifts: str = "out/gifts.jsonl") -> dict[str, Any]:
    """`channels:` for make_workspace: email through a (local) SendGrid at `url`, gifts to a
    JSONL file, no tasks."""
    return {
        "email": {
            "provider": "sendgrid",
            "api_key_env": "SENDGRID_API_KEY",
            "from": "Acme <hello@acme.test>",
            "host": url,
            "timeout": 5,
            "port": None,  # the defaults are an SMTP channel's
        },
        "gifts": {"provider": "file", "path": gifts},
        "tasks": None,
    }


def wait_for(condition: Callable[[], bool], seconds: float = 40) -> None:
    """Until `condition()` holds; AssertionError after `seconds` (a bound, not a timing)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)
