"""One workspace holding a member of every hostile class issue 9 names, run as an operator
runs it (subprocesses, bounded): no traceback, no hang, every problem located, no secret
anywhere, nobody who may have opted out written to — and the one sound note still goes,
exactly once, from `run` and from the daemon (which stops on SIGTERM within seconds).

Classes, one member each (the other members are in each area's own tests):
data cells (a date in the year 9999, an amount of 1e999999999, an unreadable opt-out, a
duplicate id, an address with a comment), a feed story dated 9999 naming a client, YAML (a
5,000-digit integer), templates (a quadratic loop, 500 nested ifs, one symlinked to
/proc/self/environ), `when:` (a tower of powers), files (a FIFO as a rule file), markup and
terminal control characters in names.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import make_workspace
from local_smtp import Mailbox

pytestmark = pytest.mark.slow

SECRET = "sg-hostile-workspace-secret-0123456789"
NOW = datetime.now(UTC)
TODAY = f"{NOW:%m-%d}"
AT = f"{NOW - timedelta(minutes=5):%H:%M}"  # just passed: due at once
LIMIT = 180  # seconds any one command may take, all told

RULES = f"""\
rules:
  - id: sound
    trigger: {{birthday: {{}}}}
    action: {{email: {{template: note}}}}
    schedule: {{at: "{AT}", late_by_at_most: 2h}}
  - id: tower
    trigger: {{birthday: {{}}}}
    when: "((9**999)**999)**999 > 0"
    action: {{email: {{template: note}}}}
    schedule: {{at: "{AT}", late_by_at_most: 2h}}
  - id: quadratic
    trigger: {{birthday: {{}}}}
    action: {{task: {{template: quadratic, assignee: am@example.test}}}}
    schedule: {{at: "{AT}", late_by_at_most: 2h}}
  - id: deep
    trigger: {{birthday: {{}}}}
    action: {{task: {{template: deep, assignee: am@example.test}}}}
  - id: leak
    trigger: {{birthday: {{}}}}
    action: {{task: {{template: leak, assignee: am@example.test}}}}
  - id: quiet
    trigger: {{inactivity: {{days: 30}}}}
    action: {{task: {{template: note, assignee: am@example.test}}}}
  - id: news
    trigger: {{news_mention: {{min_confidence: 0.1}}}}
    action: {{task: {{template: note, assignee: am@example.test}}}}
"""
NOTE = (
    "{% block subject %}Happy birthday, {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, all the best.{% endblock %}"
)
QUADRATIC = (
    "{% block subject %}x{% endblock %}{% block text %}"
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    "{% endblock %}"
)
DEEP = "{% block subject %}" + "{% if true %}" * 500 + "x" + "{% endif %}" * 500 + "{% endblock %}"
CONTACTS = (
    "id,first_name,email,birthday,opted_out,company_id,customer_since\n"
    f"c-ok,Ada,ada@client.test,1980-{TODAY},false,acme,\n"
    f"c-maybe,Bo,bo@client.test,1980-{TODAY},perhaps,,\n"
    f"c-dup,Cy,cy@client.test,1980-{TODAY},false,,\n"
    f"c-dup,Cy,cy.home@client.test,1980-{TODAY},true,,\n"
    f"c-comment,Di,di@client.test(home),1980-{TODAY},false,,\n"
    f"c-[/x],Ed \x1b[2J[bold],ed@client.test,1980-13-45,false,,9999-12-31\n"
)
PURCHASES = (
    "id,contact_id,date,amount,currency,product\n"
    "p-1,c-ok,9999-12-31,10,EUR,Van\n"
    "p-2,c-ok,2026-01-01,1e999999999,EUR,Van\n"
)
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>
<item><title>Acme Hydraulics opens a plant [/x]</title><link>https://n.test/1</link>
<pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate>
<description>Acme Hydraulics opens a hydraulics plant.</description></item>
</channel></rss>"""


@pytest.fixture
def hostile(tmp_path: Path, mailbox: Mailbox) -> Path:
    ws = make_workspace(
        tmp_path / "ws",
        config={"channels": {"email": mailbox.settings()}, "timezone": "UTC"},
        contacts=CONTACTS,
        purchases=PURCHASES,
        companies=[{"id": "acme", "name": "Acme Hydraulics", "context": ["hydraulics"]}],
        feeds=[{"url": "feeds/news.xml", "language": "en"}],
        rules={"a.yaml": RULES, "b.yaml": "rules: []\nnumber: " + "7" * 5000 + "\n"},
        templates={"note.j2": NOTE, "quadratic.j2": QUADRATIC, "deep.j2": DEEP},
    )
    (ws / "feeds").mkdir()
    (ws / "feeds" / "news.xml").write_text(FEED, encoding="utf-8")
    (ws / "templates" / "leak.j2").symlink_to("/proc/self/environ")
    os.mkfifo(ws / "rules" / "c.yaml")
    return ws


def outreach(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "outreach", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env={**os.environ, "SENDGRID_API_KEY": SECRET, "OUTREACH_TEST_SECRET": SECRET},
        check=False,
    )
    said = result.stdout + result.stderr
    assert "Traceback" not in said, (args, said)
    assert SECRET not in said, args
    assert "\x1b" not in said, (args, "a control character reached the terminal")
    assert result.returncode in (0, 1), (args, result.returncode, said)
    return result


def test_nothing_hostile_stops_the_one_sound_note(hostile: Path, mailbox: Mailbox) -> None:
    validate = outreach(hostile, "validate", "--days", "1")
    for where in (
        "rules/b.yaml:2:",  # the 5,000-digit integer
        "rules/c.yaml",  # the FIFO
        "templates/leak.j2",  # the link out of the workspace
        "templates/deep.j2",  # nested too deeply
        "data/contacts.csv:3:",  # the unreadable opt-out
        "data/contacts.csv:5:1:",  # the duplicate id
        "data/contacts.csv:6:",  # the address with a comment
        "data/purchases.csv:2:",  # the year 9999
        "data/purchases.csv:3:",  # the amount
    ):
        assert where in validate.stderr, (where, validate.stderr)
    for command in (["preview", "--days", "2"], ["explain", "c-ok"], ["explain", "c-[/x]"]):
        outreach(hostile, *command)

    run = outreach(hostile, "run")

    assert run.returncode == 1, "errors were recorded and reported"
    assert mailbox.rcpt == ["ada@client.test"], "only the sound note, to the one who may have it"
    for command in (["history"], ["status"], ["queue", "list"]):
        outreach(hostile, *command)
    stored = b"".join(path.read_bytes() for path in hostile.rglob("outreach.db*"))
    assert SECRET.encode() not in stored
    with sqlite3.connect(hostile / "outreach.db") as db:
        statuses = dict(db.execute("SELECT rule_id || ':' || contact_id, status FROM outbox"))
    assert statuses["sound:c-ok"] == "sent"
    assert statuses["tower:c-ok"] == "error" and statuses["quadratic:c-ok"] == "error"


def test_the_daemon_sends_the_sound_note_and_stops_on_sigterm(
    hostile: Path, mailbox: Mailbox
) -> None:
    daemon = subprocess.Popen(
        [sys.executable, "-m", "outreach", "daemon", "--workspace", str(hostile),
         "--dispatch-every", "1", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SENDGRID_API_KEY": SECRET},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + LIMIT
        while not mailbox.rcpt and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.2)
        assert mailbox.rcpt == ["ada@client.test"], daemon.poll()
        time.sleep(2)  # a planning tick busy with the runaway rules, maybe
        daemon.send_signal(signal.SIGTERM)
        _, log = daemon.communicate(timeout=30)  # "within seconds": a hang fails the test
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, log[-2000:]
    assert "Traceback" not in log and SECRET not in log
    assert mailbox.rcpt == ["ada@client.test"], "exactly once"
