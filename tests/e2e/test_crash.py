"""The crash test: `outreach run` killed with SIGKILL at random moments, many times over,
while it dispatches a few hundred birthday emails to the local SendGrid fake and gifts to the
file sink; then run to completion. Whatever the kills interrupted, the outbox ends settled and
nothing went out more often than the delivery policy allows (outreach.core.delivery):

    every email and gift row is sent, dead or ambiguous
    the server saw each email at most twice, and one it saw twice is ambiguous
    a `sent` email was seen exactly once
    every gift is `sent` and written to the sink exactly once (the sink is read back)
    opted-out contacts never reach the server

Each run is killed while it starts (imports, loads, plans and records), just after it wrote a
gift (a write is short: kills aimed at random would seldom catch one), or while it sends
emails; the server answers after a few ms, so kills land mid-request. A run that finishes
before its kill must exit 0.

Figures (kills, kills that left a row in `sending`, final statuses, keys seen twice) are
printed, and once more as one line of JSON; see them with `pytest -s`. The seed is printed
too; set OUTREACH_CRASH_SEED to replay a schedule of kills (the timing still varies).

Addresses SendGrid rejects: outreach refuses malformed addresses when it reads the contacts
file, so the rows SendGrid answers 400 ("Does not contain a valid address") are mailboxes it
cannot verify, here a domain the fake treats as unknown. `BouncingSendGrid` adds that one
check to the fake, so the rejected rows are a fixed, known set whatever the kills hit (a
scripted `Reply(400)` would be consumed by whichever request came next, and lost with it when
that request's sender was killed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fake_sendgrid import FakeSendGrid, Reply
from helpers import make_workspace, run_cli, sendgrid_channels

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

NOW = "2026-06-10T10:00:00+00:00"  # every birthday below is due at 09:00 that day
CONTACTS = 300  # each gets a birthday email
GIFT_EVERY = 5  # every fifth contact also gets a gift
GIFTS = CONTACTS // GIFT_EVERY
BOUNCING = 5  # of the 300, these have an address SendGrid rejects: their emails go dead
OPTED_OUT = 5  # besides the 300, opted out (two of them tagged for a gift too)
KILLS = 36
# Where the kills land: while the run starts (up to the time earlier runs took to send their
# first email), just after a gift was written, or while emails go out.
PHASES = {"startup": 0.2, "gift": 0.25, "sending": 0.55}
GIFT_WINDOW = 0.015  # seconds after the sink grew
SENDING_WINDOW = 0.25  # seconds after the run's first email request arrived
LATENCY = 0.004  # the server's pause before answering: kills land mid-request
FINAL_STATUSES = {"sent", "dead", "ambiguous"}
# Dispatch takes due rows by key, and a key begins with its rule: with one email rule and one
# gift rule, every gift would go before the first email. So the contacts are in GROUPS, each
# with an email rule and a gift rule (`b0-gift`, `b0-note`, `b1-gift`, ...): dispatch writes
# a few gifts, sends a few dozen emails, and again, and gifts are written all through a run.
GROUPS = 6
RULE = """\
  - id: b{group}-{kind}
    trigger: {{birthday: {{}}}}
    when: "'g{group}' in contact.tags{also}"
    action: {action}
    schedule: {{at: "09:00", late_by_at_most: 2d}}
"""
EMAIL = "{email: {template: birthday}}"
GIFT = '{gift: {item: "Pencil", budget: {amount: 10, currency: EUR}, card: card}}'
RULES = "rules:\n" + "".join(
    RULE.format(group=g, kind="note", also="", action=EMAIL)
    + RULE.format(group=g, kind="gift", also=" and 'gift' in contact.tags", action=GIFT)
    + "    approval: auto\n"
    for g in range(GROUPS)
)
TEMPLATES = {
    "birthday.j2": "{% block subject %}Happy birthday, {{ contact.first_name }}!{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }},\n\nall the best.{% endblock %}\n",
    "card.j2": "{% block subject %}For {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, a pencil for your desk.{% endblock %}\n",
}


class BouncingSendGrid(FakeSendGrid):
    """The fake, plus a recipient domain SendGrid refuses."""

    def _normal(
        self, method: str, path: str, headers: dict[str, str], body: Any, valid_json: bool
    ) -> Reply:
        authorised = headers.get("Authorization") == f"Bearer {self.api_key}"
        if authorised and isinstance(body, dict) and any(map(bad_address, recipients(body))):
            problem = {"message": "Does not contain a valid address.", "field": "to.email"}
            return Reply(400, body={"errors": [problem]})
        return super()._normal(method, path, headers, body, valid_json)


def recipients(body: dict[str, Any]) -> list[str]:
    envelopes = body.get("personalizations") or []
    return [
        str(to.get("email"))
        for envelope in envelopes
        if isinstance(envelope, dict)
        for to in envelope.get("to") or []
        if isinstance(to, dict)
    ]


BOUNCING_DOMAIN = "no-such-domain.test"


def bad_address(address: str) -> bool:
    return address.rpartition("@")[2] == BOUNCING_DOMAIN


def contacts() -> list[dict[str, Any]]:
    people = []
    for i in range(CONTACTS + OPTED_OUT):
        opted_out = i >= CONTACTS
        domain = BOUNCING_DOMAIN if i < BOUNCING else "example.test"
        people.append(
            {
                "id": f"c-{i:03d}",
                "first_name": f"Person{i}",
                "email": f"p{i}@{domain}",
                "birthday": "1980-06-10",
                "tags": f"g{i * GROUPS // (CONTACTS + OPTED_OUT)}"
                + (";gift" if i % GIFT_EVERY == 0 or i >= CONTACTS + 3 else ""),
                "address_line1": f"{i} Main Street",
                "city": "Reykjavík",
                "opted_out": opted_out,
            }
        )
    return people


def build_workspace(root: Path, server: FakeSendGrid) -> Path:
    channels = sendgrid_channels(server.url)
    return make_workspace(
        root,
        config={"channels": channels},
        contacts=contacts(),
        rules={"birthdays.yaml": RULES},
        templates=TEMPLATES,
    )


def outreach(workspace: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "outreach", *args, "--workspace", str(workspace)]


def sending_rows(workspace: Path) -> Counter[str]:
    """Rows left in `sending`, by action (read straight from the SQLite file: no CLI start)."""
    path = workspace / "outreach.db"
    if not path.exists():
        return Counter()
    query = "SELECT action, count(*) FROM outbox WHERE status = 'sending' GROUP BY action"
    with closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            return Counter(dict(db.execute(query).fetchall()))
        except sqlite3.OperationalError:  # killed before the tables were made
            return Counter()


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def wait_for(condition: Any, process: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def sink_keys(path: Path) -> tuple[Counter[str], int]:
    """Keys written to the gift sink, and how many lines were torn (not JSON)."""
    keys: Counter[str] = Counter()
    torn = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            keys[json.loads(line)["key"]] += 1
        except (ValueError, KeyError, TypeError):
            torn += 1
    return keys, torn


@pytest.mark.slow
def test_killed_runs_send_nothing_twice_that_must_not_be(tmp_path: Path) -> None:
    seed = int(os.environ.get("OUTREACH_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    print(f"\ncrash test seed: {seed} (OUTREACH_CRASH_SEED={seed} to replay)")
    started = time.monotonic()
    with BouncingSendGrid() as server:
        server.latency = LATENCY
        workspace = build_workspace(tmp_path / "ws", server)
        env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
        env.pop("OUTREACH_WORKSPACE", None)
        run = outreach(workspace, "run", "--now", NOW, "--format", "json")

        sink = workspace / "out" / "gifts.jsonl"
        kills = finished_first = 0
        kills_by_phase: Counter[str] = Counter()
        left_sending: Counter[str] = Counter()  # kills that left a row in `sending`, by action
        first_request: list[float] = []
        for _ in range(KILLS):
            requests_before, sink_before = len(server.requests), size(sink)
            phase = rng.choices(list(PHASES), weights=list(PHASES.values()))[0]
            if phase == "gift" and sink.exists() and sink.read_bytes().count(b"\n") >= GIFTS:
                phase = "sending"  # every gift is written: none left to catch
            with (tmp_path / "stderr.txt").open("w+") as errors:
                process = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=errors)
                spawned = time.monotonic()
                if phase == "startup":
                    guess = statistics.median(first_request) if first_request else 1.5
                    wait_for(lambda: False, process, rng.uniform(0.05, guess))
                elif phase == "gift":
                    wait_for(lambda: size(sink) > sink_before, process, 30)  # noqa: B023
                    wait_for(lambda: False, process, rng.uniform(0, GIFT_WINDOW))
                else:
                    wait_for(lambda: len(server.requests) > requests_before, process, 30)  # noqa: B023
                    if len(server.requests) > requests_before:
                        first_request.append(time.monotonic() - spawned)
                    wait_for(lambda: False, process, rng.uniform(0, SENDING_WINDOW))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
                    kills_by_phase[phase] += 1
                else:
                    finished_first += 1
                process.wait()  # reaped: a zombie would still look alive to the next run
                errors.seek(0)
                said = errors.read()
            if process.returncode != -signal.SIGKILL:  # it finished before the kill
                assert process.returncode == 0, (f"seed {seed}", phase, said[-3000:])
            stuck = sending_rows(workspace)
            left_sending.update({"any": 1} if stuck else {})
            left_sending.update(dict.fromkeys(stuck, 1))
        killing = time.monotonic() - started

        passes: list[dict[str, Any]] = []
        while len(passes) < 5:
            began = time.monotonic()
            done = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            passes.append({"seconds": round(time.monotonic() - began, 2), **report})
            if not report["dispatched"]:
                break
        assert not passes[-1]["dispatched"], passes

        result = run_cli("history", "--workspace", workspace, "--format", "json")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        seen = server.accepted_keys()
        addressed = Counter(a for body in server.accepted for a in recipients(body))
        spec_errors = list(server.spec_errors)
        validating = server.validating

    emails = {r["key"]: r for r in rows if r["action"] == "email"}
    gifts = {r["key"]: r for r in rows if r["action"] == "gift"}
    statuses = Counter(f"{r['action']} {r['status']}" for r in rows)
    twice = sorted(k for k, n in seen.items() if n == 2)
    written, torn = sink_keys(sink)
    figures = {
        "seed": seed,
        "runs_started": KILLS,
        "kills": kills,
        "kills_by_phase": dict(kills_by_phase),
        "finished_before_kill": finished_first,
        "kills_leaving_sending": dict(left_sending),
        "first_request_s_median": round(statistics.median(first_request or [0]), 2),
        "completion_passes": [(p["seconds"], p["dispatched"]) for p in passes],
        "statuses": dict(sorted(statuses.items())),
        "emails_seen_twice": len(twice),
        "emails_accepted": sum(seen.values()),
        "gift_lines": sum(written.values()),
        "torn_lines": torn,
        "spec_validated": validating,
        "killing_s": round(killing, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    print(
        f"crash test: {kills} kills of {KILLS} runs ({kills_by_phase['startup']} while starting, "
        f"{kills_by_phase['gift']} after a gift, {kills_by_phase['sending']} while sending, "
        f"{finished_first} finished first); {left_sending['any']} left a row in `sending` "
        f"(a gift: {left_sending['gift']}, an email: {left_sending['email']}); "
        f"median start to first request "
        f"{figures['first_request_s_median']} s; completion passes {figures['completion_passes']}"
    )
    print(f"crash test: final statuses {figures['statuses']}")
    print(f"crash test: {len(twice)} emails seen twice: {twice}")
    print(json.dumps(figures, separators=(",", ":")))

    context = f"seed {seed}"
    assert len(emails) == CONTACTS and len(gifts) == GIFTS, context
    assert {r["status"] for r in rows} <= FINAL_STATUSES, (context, statuses)
    # At most twice, and twice only when the outbox says it may have arrived twice.
    assert set(seen) <= set(emails), context
    assert max(seen.values()) <= 2, (context, seen.most_common(3))
    assert all(emails[k]["status"] == "ambiguous" for k in twice), context
    for key, row in emails.items():
        if row["status"] == "sent":
            assert seen[key] == 1, (context, key, row)
        if row["status"] == "dead":
            assert seen[key] == 0, (context, key, row)
    # A rejected address is dead; or ambiguous, when two tries were both cut off unanswered.
    bouncing = {f"c-{i:03d}" for i in range(BOUNCING)}
    dead = {r["contact"] for r in emails.values() if r["status"] == "dead"}
    assert dead <= bouncing, (context, dead)
    assert all(r["status"] != "sent" for r in emails.values() if r["contact"] in bouncing)
    # Gifts: an interrupted one is looked up in the sink, never written blindly again.
    assert all(r["status"] == "sent" for r in gifts.values()), (context, statuses)
    assert written == Counter(dict.fromkeys(gifts, 1)), (context, written - Counter(gifts))
    # Opted out: never planned, never seen.
    opted_out = range(CONTACTS, CONTACTS + OPTED_OUT)
    assert not {f"p{i}@example.test" for i in opted_out} & set(addressed), context
    assert not {f"c-{i:03d}" for i in opted_out} & {r["contact"] for r in rows}, context
    if validating:
        assert spec_errors == [], (context, spec_errors[:5])
