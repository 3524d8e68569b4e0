"""`outreach status`, and the daemon's metrics and logs."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, free_port, make_workspace, run_cli

from outreach import logs
from outreach.metrics import Metrics
from outreach.services.dispatch import RunReport


def workspace(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "first_name": "Ada", "email": "ada@client.test",
                   "birthday": "1980-06-10"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )  # fmt: skip


def test_status_before_anything_ran(tmp_path: Path) -> None:
    result = run_cli("status", "--workspace", workspace(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("daemon: not running\nstore: not created yet")


def test_status_after_a_run_shows_the_outbox_and_what_comes_next(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    run_cli("run", "--workspace", ws, "--now", "2026-06-10T10:00:00+00:00")
    result = run_cli("status", "--workspace", ws, "--format", "json")
    found = json.loads(result.stdout)
    assert found["daemon"] == {"running": False}
    assert found["outbox"] == {"failed": 1}  # no SMTP server: it is tried again later
    assert found["paused"] == {} and found["feeds"] == []
    text = run_cli("status", "--workspace", ws).stdout
    assert "outbox: 1 failed" in text


def test_metrics_are_served_for_prometheus() -> None:
    metrics = Metrics(lambda: {"pending": 3, "sent": 7})
    port = free_port()
    metrics.serve(port)
    report = RunReport()
    report.by_channel["email", "sent"] += 2
    metrics.on_tick("dispatch", 0.25, report)
    metrics.on_tick("feed:https://news.test/rss", 1.5, type("R", (), {"status": "error"})())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        page = response.read().decode()
    assert 'outreach_sends_total{channel="email",status="sent"} 2.0' in page
    assert 'outreach_queue_depth{status="pending"} 3.0' in page
    assert 'outreach_tick_seconds_count{job="dispatch"} 1.0' in page
    assert 'outreach_feed_errors_total{feed="https://news.test/rss"} 1.0' in page


def test_json_logs_are_one_object_per_line_with_their_fields(capsys) -> None:
    logs.setup("json", "INFO")
    logging.getLogger("outreach.test").info("sent k1", extra=logs.fields(channel="email"))
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert entry["message"] == "sent k1" and entry["channel"] == "email"
    assert entry["level"] == "info" and entry["logger"] == "outreach.test"
    logging.getLogger("python_http_client").debug("HEADERS: Authorization: Bearer SG.x")
    assert capsys.readouterr().err == ""  # a library's DEBUG never reaches the log
    logging.getLogger().handlers.clear()
