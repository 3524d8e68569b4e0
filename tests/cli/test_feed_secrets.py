"""Feed urls keep their secrets (issue 9, item 8): `user:pass@` and secret-looking query
values never reach `feeds scan`, `status` (text and JSON), the daemon's job names and logs, or
the store's bytes; two feeds differing only in their token stay two feeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import make_workspace, run_cli

from outreach.adapters.feeds.messages import feed_key, safe_url

NOW = "2026-11-22T08:00:00+00:00"
SECRETS = ("pa55word", "T0KEN-ONE", "T0KEN-TWO", "s1gn4ture")
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
    b"<title>Delta Cold Chain opens a hub</title><link>https://n.test/a</link>"
    b"<description>Delta Cold Chain opened a refrigerated hub.</description></item>"
    b"</channel></rss>"
)


class Feeds(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(FEED)


@pytest.fixture
def feed_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Feeds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.fixture
def workspace(tmp_path: Path, feed_server: int) -> Path:
    base = f"http://reader:pa55word@127.0.0.1:{feed_server}/rss"
    return make_workspace(
        tmp_path,
        config={"network": {"allow_private": True}},
        companies=[{"id": "delta", "name": "Delta Cold Chain"}],
        feeds=[
            {"url": f"{base}?lang=en&token=T0KEN-ONE", "language": "en", "every": "1m"},
            {"url": f"{base}?lang=en&token=T0KEN-TWO&sig=s1gn4ture", "language": "en"},
        ],
    )


def assert_no_secret(text: str | bytes, where: str) -> None:
    for secret in SECRETS:
        found = secret.encode() in text if isinstance(text, bytes) else secret in text
        assert not found, f"{secret} in {where}"


def test_secrets_are_hidden_and_the_two_feeds_stay_apart() -> None:
    url = "https://me:pw@f.test/rss?Lang=en&api_key=K1&X-Amz-Signature=S&access_token=A#top"
    assert (
        safe_url(url)
        == "https://f.test/rss?Lang=en&api_key=***&X-Amz-Signature=***&access_token=***#top"
    )
    assert feed_key("https://f.test/rss?lang=en") == "https://f.test/rss?lang=en"  # as before
    one, two = feed_key("https://f.test/r?token=A"), feed_key("https://f.test/r?token=B")
    assert one != two and one.startswith("https://f.test/r?token=*** #")


def test_scan_status_and_store_keep_no_feed_secret(workspace: Path) -> None:
    scan = run_cli("feeds", "scan", "--workspace", workspace, "--now", NOW)
    assert scan.exit_code == 0, scan.output
    assert "2 feeds, 1 new entry," in scan.stdout
    assert_no_secret(scan.output, "feeds scan")
    text = run_cli("status", "--workspace", workspace)
    assert_no_secret(text.output, "status")
    found = json.loads(run_cli("status", "--workspace", workspace, "--format", "json").stdout)
    assert_no_secret(json.dumps(found), "status --format json")
    assert len(found["feeds"]) == 2  # differing only in their token, two feeds
    for file in workspace.glob("outreach.db*"):
        assert_no_secret(file.read_bytes(), file.name)


def test_the_daemon_names_and_logs_feeds_without_secrets(workspace: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUTREACH_WORKSPACE"}
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(workspace)]
    command += ["--log-format", "json", "--log-level", "DEBUG"]
    log = workspace / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count('"feed fetched"') < 2:
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert_no_secret(log.read_text(), "the daemon's log")
    status = json.loads(run_cli("status", "--workspace", workspace, "--format", "json").stdout)
    feed_jobs = [job for job in status["ticks"] if job.startswith("feed:")]
    assert len(feed_jobs) == 2
    assert_no_secret(json.dumps(status), "status after the daemon")
    for file in workspace.glob("outreach.db*"):
        assert_no_secret(file.read_bytes(), file.name)
