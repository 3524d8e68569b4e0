"""Several daemons on one PostgreSQL store, as the README allows: three `outreach daemon`
processes start at the same moment on a new, empty database (they race to make its tables);
none dies, and the birthday notes and gifts that fall due are sent through them, each exactly
once, with every daemon writing its ticks, pauses and claims to the same tables; `outreach
status` lists all three while they run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_sendgrid import FakeSendGrid
from helpers import make_workspace, run_cli, sendgrid_channels, wait_for

pytestmark = pytest.mark.postgres

DAEMONS = 3
PEOPLE = 60
GIFT_EVERY = 6  # 10 gifts
MOMENT = datetime.now(UTC) - timedelta(minutes=5)  # the notes' send time: just passed
RULES = f"""\
rules:
  - id: note
    trigger: {{birthday: {{}}}}
    action: {{email: {{template: note}}}}
    schedule: {{at: "{MOMENT:%H:%M}", late_by_at_most: 2h}}
  - id: gift
    trigger: {{birthday: {{}}}}
    when: "'gift' in contact.tags"
    action: {{gift: {{item: Pencil, budget: {{amount: 10, currency: EUR}}, card: note}}}}
    schedule: {{at: "{MOMENT:%H:%M}", late_by_at_most: 2h}}
    approval: auto
"""
TEMPLATE = (
    "{% block subject %}Hello {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, all the best.{% endblock %}\n"
)


def people() -> list[dict[str, str]]:
    return [
        {
            "id": f"c-{i:03d}",
            "first_name": f"P{i}",
            "email": f"p{i}@client.test",
            "birthday": f"1980-{MOMENT:%m-%d}",
            "tags": "gift" if i % GIFT_EVERY == 0 else "",
            "address_line1": f"{i} Main Street",
            "city": "Reykjavík",
        }
        for i in range(PEOPLE)
    ]


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        fake.latency = 0.005
        yield fake


def start(root: Path, number: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(root)]
    command += ["--dispatch-every", "1", "--plan-every", "1", "--watch-every", "0.5"]
    command += ["--log-format", "json"]
    with (root / f"daemon-{number}.log").open("w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def gifts_written(root: Path) -> Counter[str]:
    sink = root / "out" / "gifts.jsonl"
    lines = sink.read_text(encoding="utf-8").splitlines() if sink.exists() else []
    return Counter(json.loads(line)["key"] for line in lines)


def test_three_daemons_start_together_on_a_new_database_and_send_each_note_once(
    tmp_path: Path, server: FakeSendGrid, postgres_url: str
) -> None:
    root = make_workspace(
        tmp_path / "ws",
        config={"store": postgres_url, "channels": sendgrid_channels(server.url)},
        contacts=people(),
        rules={"birthdays.yaml": RULES},
        templates={"note.j2": TEMPLATE},
    )
    env = {**os.environ, "SENDGRID_API_KEY": server.api_key}  # PGPASSWORD among them
    env.pop("OUTREACH_WORKSPACE", None)
    daemons = [start(root, number, env) for number in range(DAEMONS)]  # at the same moment
    logs = [root / f"daemon-{number}.log" for number in range(DAEMONS)]
    try:
        gifts = PEOPLE // GIFT_EVERY
        wait_for(
            lambda: len(server.accepted_keys()) == PEOPLE and len(gifts_written(root)) == gifts,
            seconds=60,
        )
        time.sleep(2)  # more ticks of each daemon: nothing goes again
        alive = [daemon.poll() is None for daemon in daemons]
        listed = run_cli("status", "--workspace", root, "--format", "json", env=env)
        shown = run_cli("status", "--workspace", root, env=env).stdout
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        codes = [daemon.wait(timeout=30) for daemon in daemons]
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    texts = [log.read_text() for log in logs]
    assert alive == [True] * DAEMONS and codes == [0] * DAEMONS, texts
    for text in texts:
        assert "Traceback" not in text and "daemon started" in text, text
    assert server.accepted_keys() == Counter(
        {f"note:c-{i:03d}:{MOMENT.year}": 1 for i in range(PEOPLE)}
    )
    assert set(gifts_written(root).values()) == {1}
    history = run_cli("history", "--workspace", root, "--format", "json")
    assert history.exit_code == 0, history.stderr
    assert Counter(row["status"] for row in json.loads(history.stdout)) == {"sent": PEOPLE + gifts}
    assert "up to date" in run_cli("db", "status", "--workspace", root).stdout
    # `outreach status` listed every daemon while they ran, and none once they stopped.
    running = json.loads(listed.stdout)["daemons"]
    assert len(running) == DAEMONS and all(d["running"] for d in running)
    pids = {str(daemon.pid) for daemon in daemons}
    assert {d["holder"].split(":")[1] for d in running} == pids
    assert f"daemons: {DAEMONS} running" in shown
    after = json.loads(run_cli("status", "--workspace", root, "--format", "json").stdout)
    assert after["daemons"] == []
