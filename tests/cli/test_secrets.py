"""No secret is stored or printed. A provider that echoes our credentials back (SendGrid's
Authorization header in a 400, a 500 and a 401; an SMTP server quoting the AUTH exchange in its
535) leaves no trace of them, in any encoding, in the store's file, `run`, `history`,
`queue list` or `status`; nor do rows, pauses and tick errors an older outreach stored."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from fake_sendgrid import Echo, FakeSendGrid
from helpers import (
    BIRTHDAY_RULE,
    BIRTHDAY_TEMPLATE,
    free_port,
    make_workspace,
    run_cli,
    sendgrid_channels,
)

from outreach.services.runtime import Runtime

DUE = "2026-06-10T10:00:00+00:00"
KEY = "SG.t0p/s3cret+api=key"
USER, PASSWORD = "anna@acme.test", "S3cret/pass+word"
CONTACTS = [
    {"id": f"c-{i}", "first_name": "Ada", "email": f"ada{i}@client.test", "birthday": "1980-06-10"}
    for i in (1, 2, 3)
]
SHOWN = [
    (["run"], ["--now", DUE]),
    (["run"], ["--now", DUE, "--format", "json"]),
    (["history"], []),
    (["history"], ["--format", "json"]),
    (["queue", "list"], ["--status", "failed", "--status", "dead"]),
    (["queue", "list"], ["--format", "json"]),
    (["status"], []),
    (["status"], ["--format", "json"]),
]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), b64(secret), b64(secret).rstrip("=")]


KEY_FORMS = [*forms(KEY), b64(f"Bearer {KEY}")]
LOGIN_FORMS = [*forms(PASSWORD), b64(f"\0{USER}\0{PASSWORD}"), b64(f"{USER}:{PASSWORD}")]


def stored(root: Path) -> str:
    """Every byte of the SQLite store: the database, its write-ahead log, its index."""
    return "".join(p.read_bytes().decode("latin-1") for p in root.glob("outreach.db*"))


def shown(root: Path, env: dict[str, str]) -> str:
    """What the commands print, all of them, in every format."""
    said = []
    for command, options in SHOWN:
        result = run_cli(*command, "--workspace", root, *options, env=env)
        said += [result.stdout, result.stderr]
    return "\n".join(said)


def assert_nowhere(forms: list[str], *texts: str) -> None:
    for text in texts:
        found = [form for form in forms if form in text]
        assert not found, f"{found} in {text[:2000]}"


def notes_workspace(root: Path, channels: dict, contacts: list[dict] = CONTACTS) -> Path:
    """A birthday note, due at DUE for each contact, through these channels."""
    return make_workspace(
        root,
        config={"channels": channels},
        contacts=contacts,
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=KEY) as fake:
        yield fake


def test_an_api_key_echoed_by_the_provider_is_stored_and_shown_nowhere(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    root = notes_workspace(tmp_path / "ws", sendgrid_channels(sendgrid.url))
    sendgrid.script(Echo(400), Echo(500), Echo(401))  # dead, failed, and the channel paused
    env = {"SENDGRID_API_KEY": KEY}
    printed = shown(root, env)
    assert [r.status for r in sendgrid.requests] == [400, 500, 401]
    assert "SendGrid 400: refused" in printed and "SendGrid 500: refused" in printed
    assert "SendGrid 401: refused" in printed and "[redacted]" in printed
    assert_nowhere(KEY_FORMS, printed, stored(root))


class EchoingAuth:
    """An SMTP server's handler that refuses every login, quoting it back, decoded too."""

    async def handle_AUTH(self, server, session, envelope, args):
        said = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        return f"535 5.7.8 refused {' '.join(args)} ({said!r})"


def test_smtp_credentials_echoed_by_the_server_are_stored_and_shown_nowhere(
    tmp_path: Path,
) -> None:
    controller = Controller(
        EchoingAuth(),
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        email = {"host": "127.0.0.1", "port": controller.port,
                 "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD"}  # fmt: skip
        root = notes_workspace(tmp_path / "ws", {"email": email})
        printed = shown(root, {"SMTP_USER": USER, "SMTP_PASSWORD": PASSWORD})
    finally:
        controller.stop()
    assert "SMTP 535 5.7.8 refused PLAIN [redacted]" in printed
    assert_nowhere(LOGIN_FORMS, printed, stored(root))


def test_what_an_older_outreach_stored_is_shown_without_its_secrets(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    root = notes_workspace(tmp_path / "ws", sendgrid_channels(sendgrid.url), CONTACTS[:2])
    env = {"SENDGRID_API_KEY": KEY}
    assert run_cli("run", "--workspace", root, "--now", DUE, env=env).exit_code == 0
    echo = f"SendGrid 400: Authorization: Bearer {KEY} ({quote(KEY, safe='')})"
    with sqlite3.connect(root / "outreach.db") as db:
        db.execute("UPDATE outbox SET status = 'dead', last_error = ?", (echo,))
        db.execute("UPDATE outbox SET status = 'failed' WHERE key LIKE '%c-2%'")
        for channel, moment in (
            ("email", datetime.fromisoformat(DUE)),
            ("gifts", datetime.now(UTC)),
        ):
            resting = (moment + timedelta(hours=1)).isoformat()  # seen by `run`, by `status`
            db.execute("INSERT INTO channel_pauses VALUES (?, ?, ?)", (channel, resting, echo))
        db.execute(
            "INSERT INTO ticks (job, started_at, seconds, error)"
            " VALUES ('dispatch', '2026-06-10T10:00:00', 1, ?)",
            (echo,),
        )
    printed = shown(root, env)
    assert printed.count("SendGrid 400: Authorization: Bearer [redacted] ([redacted])") >= 8
    assert_nowhere(KEY_FORMS, printed)


def test_a_daemon_tick_that_fails_stores_its_error_without_secrets(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    root = notes_workspace(tmp_path / "ws", sendgrid_channels(sendgrid.url), [])
    env = {"SENDGRID_API_KEY": KEY}
    runtime = Runtime.start(root, env)

    def leaky() -> None:
        raise RuntimeError(f"gateway said: Authorization: Bearer {KEY}")

    runtime.tick("plan", leaky)
    runtime.store.engine.dispose()
    status = run_cli("status", "--workspace", root, "--format", "json", env=env)
    assert "RuntimeError: gateway said: Authorization: Bearer [redacted]" in status.stdout
    assert_nowhere(KEY_FORMS, status.stdout, stored(root))
