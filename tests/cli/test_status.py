"""`outreach status`, and the daemon's metrics and logs."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, free_port, make_workspace, run_cli

from outreach import logs
from outreach.adapters.processes import Worker
from outreach.adapters.store import SqlStore, outbox
from outreach.metrics import Metrics
from outreach.services.dispatch import RunReport
from outreach.services.runtime import Runtime
from outreach.services.workspace import load_config


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


# --- what status must not leave out -------------------------------------------------------

SENDGRID = {"email": {"provider": "sendgrid", "api_key_env": "OUTREACH_TEST_SG_KEY",
                      "from": "Acme <hello@acme.test>", "host": None, "port": None}}  # fmt: skip


def daemon(ws: Path) -> Runtime:
    """A daemon's runtime holding the store's lock, as another live process (status, in this
    one, tells a daemon of its own pid from an earlier process's)."""
    runtime = Runtime.start(ws, {})
    runtime.worker = Worker(Worker.current().host, os.getppid(), "alive")
    runtime.acquire()
    return runtime


def status_json(ws: Path, env: dict[str, str] | None = None) -> dict:
    result = run_cli("status", "--workspace", ws, "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def status_text(ws: Path, env: dict[str, str] | None = None) -> str:
    result = run_cli("status", "--workspace", ws, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_a_channel_without_its_api_key_is_said_to_be_unable_to_send(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", config={"channels": SENDGRID},
                        rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    found = status_json(ws, {"OUTREACH_TEST_SG_KEY": None})
    email = found["channels"]["email"]
    assert email["ok"] is False
    assert email["problem"] == "the environment variable OUTREACH_TEST_SG_KEY is not set"
    assert found["channels"]["tasks"] == {"ok": True, "problem": None, "paused_until": None,
                                          "paused_why": None}  # fmt: skip
    text = status_text(ws, {"OUTREACH_TEST_SG_KEY": None})
    assert "email: cannot send: the environment variable OUTREACH_TEST_SG_KEY is not set" in text
    assert status_json(ws, {"OUTREACH_TEST_SG_KEY": "SG.k"})["channels"]["email"]["ok"] is True


def test_a_sink_that_cannot_be_written_is_said_to_be_unable_to_send(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "out").write_text("a file where the sinks' folder should be")
    found = status_json(ws)
    assert found["channels"]["tasks"]["ok"] is False
    assert re.fullmatch("cannot write .*/ws/out/tasks.jsonl: .*/ws/out is not a folder",
                        found["channels"]["tasks"]["problem"])  # fmt: skip
    assert re.search("gifts: cannot send: cannot write .*/out/gift-tasks.jsonl", status_text(ws))
    assert not (ws / "out").is_dir()  # looking wrote nothing


def test_a_resting_channel_says_until_when_on_the_workspaces_clock(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", config={"timezone": "Asia/Kathmandu"},
                        rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    run_cli("run", "--workspace", ws, "--now", "2026-06-10T10:00:00+00:00")
    until = (datetime.now(UTC) + timedelta(seconds=90)).replace(microsecond=0)
    store = SqlStore.of(load_config(ws, []), ws, create=False)
    assert store is not None
    with store.transaction() as connection:
        outbox.pause(connection, "email", until, "SendGrid 429: rate limited")
    found = status_json(ws)
    assert found["channels"]["email"]["paused_until"] == until.isoformat()
    assert found["channels"]["email"]["ok"] is False
    shown = until.astimezone(ZoneInfo("Asia/Kathmandu")).strftime("%Y-%m-%d %H:%M +0545")
    assert f"email: paused until {shown}: SendGrid 429: rate limited" in status_text(ws)


def test_a_daemon_on_its_last_good_rules_says_so_with_why_and_since_when(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runtime = daemon(ws)
    since = datetime.now(UTC).replace(microsecond=0)
    time.sleep(0.01)
    (ws / "rules/notes.yaml").write_text("rules:\n  - id: [\n")
    runtime.watch()
    assert runtime.watch() is True  # taken once it holds still: the last good rules stay
    [fallback] = status_json(ws)["fallbacks"]
    assert fallback["topic"] == "rules"
    assert re.match("the last good rules and templates run: .*/rules/notes.yaml:3:1: YAML",
                    fallback["reason"])  # fmt: skip
    assert datetime.fromisoformat(fallback["since"]) >= since
    assert re.search(r"  since .*: the last good rules and templates run: .*/notes.yaml:3:1",
                     status_text(ws))  # fmt: skip
    time.sleep(0.01)
    (ws / "rules/notes.yaml").write_text(BIRTHDAY_RULE)
    runtime.watch()
    assert runtime.watch() is True
    assert status_json(ws)["fallbacks"] == []
    runtime.release()


def test_a_stopped_daemon_leaves_no_fallback_behind(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runtime = daemon(ws)
    time.sleep(0.01)
    (ws / "outreach.yaml").write_text("timezone: Mars/Olympus\n")
    runtime.watch()
    runtime.watch()
    assert status_json(ws)["fallbacks"][0]["reason"].startswith("nothing is sent: outreach.yaml")
    runtime.release()
    assert status_json(ws)["fallbacks"] == []


def test_overdue_pending_rows_come_first_in_next(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path / "ws",
        config={"channels": SENDGRID},
        contacts=[{"id": "c-1", "first_name": "Ada", "email": "ada@client.test",
                   "birthday": "1980-06-10", "timezone": "Asia/Dubai"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )  # fmt: skip
    run_cli("run", "--workspace", ws, "--now", "2026-06-10T10:00:00+00:00")  # no key: waits
    found = status_json(ws)
    assert found["outbox"] == {"pending": 1} and found["overdue"] == 1
    first = found["next"][0]
    assert first == {"send_at": "2026-06-10T14:00+04:00", "rule": "birthday-note",
                     "contact": "c-1", "action": "email", "status": "pending",
                     "key": "birthday-note:c-1:2026", "overdue": True, "reason": None}  # fmt: skip
    text = status_text(ws)
    assert "next: (1 overdue" in text
    assert "  2026-06-10 14:00 +0400  OVERDUE  birthday-note  c-1  email" in text


def test_ticks_of_a_daemon_that_is_gone_are_marked_stale_with_their_age(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runtime = daemon(ws)
    runtime.clock = lambda: datetime.now(UTC) - timedelta(minutes=10)
    runtime.tick("plan", lambda: None, every=300)  # two intervals ago: current
    runtime.tick("dispatch", lambda: None, every=60)  # ten intervals ago: stale
    ticks = status_json(ws)["ticks"]
    assert ticks["plan"]["stale"] is False and ticks["plan"]["every"] == 300
    assert ticks["dispatch"]["stale"] is True
    assert ticks["dispatch"]["stale_why"] == "it runs every 60 s"
    assert 595 <= ticks["dispatch"]["age_seconds"] <= 660
    runtime.release()  # the daemon stops: every tick it left is stale
    ticks = status_json(ws)["ticks"]
    assert all(t["stale"] and t["stale_why"] == "no daemon is running" for t in ticks.values())
    text = status_text(ws)
    assert re.search(r"  plan: last at .*, 10 min ago \(0.00 s\) — stale: no daemon is running",
                     text)  # fmt: skip
