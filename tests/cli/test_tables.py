"""Tables people act on: `queue list` and `history` name each row by a handle that is never
broken and that the queue commands take; times are the recipient's, with their offset; a gift
waiting for approval shows its cost, card and warnings; what was sent is said, not its
Message-ID; a retried row says so."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_sendgrid import FakeSendGrid
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, run_cli

from outreach.cli.common import by_whom

LEAST = 4  # characters of a handle the queue commands take


def digest(key: str) -> str:
    """What a handle is a prefix of (the webhook's X-Outreach-Key too)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


DUE = "2026-06-05T06:00:00+00:00"  # gifts are planned (they ship 3 days ahead)
SENT = "2026-06-10T08:00:00+00:00"  # birthday notes went
LONG_RULE = "birthday-gift-for-our-most-valued-clients-across-every-region"
GIFT_RULE = f"""\
rules:
  - id: {LONG_RULE}
    trigger:
      birthday: {{}}
    action:
      gift: {{item: Pencil, budget: {{amount: 12.5, currency: EUR}}, card: card, ship_days: 3}}
    schedule: {{at: "09:00", late_by_at_most: 2d}}
"""
CARD = "{% block text %}Happy birthday from all of us, {{ contact.first_name }}\nP.S.{% endblock %}"


def person(contact_id: str, name: str, zone: str, birthday: str = "1980-06-10") -> dict:
    return {"id": contact_id, "first_name": name, "email": f"{name.lower()}@client.test",
            "birthday": birthday, "timezone": zone, "address_line1": "Main St 1",
            "city": "Reykjavík"}  # fmt: skip


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


def workspace(tmp_path: Path, contacts: list[dict], server: FakeSendGrid | None = None) -> Path:
    config: dict = {"timezone": "Europe/Helsinki"}
    if server is not None:
        config["channels"] = {"email": {"provider": "sendgrid", "from": "Acme <hello@acme.test>",
                                        "host": server.url, "port": None}}  # fmt: skip
    return make_workspace(
        tmp_path / "ws",
        config=config,
        contacts=contacts,
        rules={"notes.yaml": BIRTHDAY_RULE, "gifts.yaml": GIFT_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "card.j2": CARD},
    )


LONG_IDS = [
    person("client-with-a-remarkably-long-identifier-from-the-crm-export-0001", "Ada",
           "Asia/Dubai"),
    person("client-with-a-remarkably-long-identifier-from-the-crm-export-0002", "Grace",
           "Pacific/Auckland"),
]  # fmt: skip


def as_json(ws: Path, *command: str) -> list[dict]:
    result = run_cli(*command, "--workspace", ws, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def narrow(ws: Path, *command: str) -> str:
    result = run_cli(*command, "--workspace", ws, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", [("queue", "list"), ("history",)])
def test_a_narrow_terminal_never_breaks_a_handle_or_a_time(tmp_path: Path, command) -> None:
    ws = workspace(tmp_path, LONG_IDS)
    run_cli("run", "--workspace", ws, "--now", DUE)
    rows = as_json(ws, *command)
    assert rows
    table = narrow(ws, *command)
    assert max(len(line) for line in table.splitlines()) <= 80
    for row in rows:
        assert len(row["handle"]) >= 7 and digest(row["key"]).startswith(row["handle"])
        assert row["handle"] in table
        assert row["send_at"][:16].replace("T", " ") in table  # on one line, as written
    wide = run_cli(*command, "--workspace", ws, "--wide", env={"COLUMNS": "80"}).stdout
    for row in rows:
        assert any(row["key"] in line for line in wide.splitlines())  # whole, on one line


def test_approving_by_handle(tmp_path: Path) -> None:
    ws = workspace(tmp_path, LONG_IDS)
    run_cli("run", "--workspace", ws, "--now", DUE)
    waiting = as_json(ws, "queue", "list", "--status", "needs_approval")
    first, second = waiting
    result = run_cli("queue", "approve", first["handle"], "--workspace", ws)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"ok: {first['key']}: needs_approval -> pending" in result.stdout
    longer = digest(second["key"])[:12].upper()  # more characters, any case
    result = run_cli("queue", "reject", longer, "--workspace", ws)
    assert result.exit_code == 0 and f"ok: {second['key']}" in result.stdout
    statuses = {row["key"]: row["status"] for row in as_json(ws, "history")}
    assert statuses[first["key"]] == "pending" and statuses[second["key"]] == "rejected"


def colliding_ids(count: int = 2) -> tuple[list[str], str]:
    """Contact ids whose gift keys share their first LEAST characters of digest."""
    seen: dict[str, str] = {}
    for n in range(100_000):
        contact = f"c-{n}"
        prefix = digest(f"{LONG_RULE}:{contact}:2026")[:LEAST]
        if prefix in seen:
            return [seen[prefix], contact], prefix
        seen[prefix] = contact
    raise AssertionError("no two keys share a prefix")


def test_an_ambiguous_or_unknown_handle_is_a_clear_error(tmp_path: Path) -> None:
    ids, prefix = colliding_ids()
    ws = workspace(tmp_path, [person(c, f"N{c[2:]}", "UTC") for c in ids])
    run_cli("run", "--workspace", ws, "--now", DUE)
    keys = [row["key"] for row in as_json(ws, "queue", "list", "--status", "needs_approval")]
    assert len(keys) == 2
    result = run_cli("queue", "approve", prefix, "--workspace", ws)
    assert result.exit_code == 1
    assert f"{prefix}: the handle {prefix} is ambiguous" in result.stdout
    assert all(key in result.stdout for key in keys)
    result = run_cli("queue", "approve", "0123abcd", "--workspace", ws)
    assert result.exit_code == 1
    assert "0123abcd: no such key or handle in the outbox" in result.stdout
    assert {r["status"] for r in as_json(ws, "history")} == {"needs_approval"}  # untouched


def test_times_are_the_recipients_with_their_offset_in_the_order_of_the_instant(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path, LONG_IDS)
    run_cli("run", "--workspace", ws, "--now", DUE)
    rows = as_json(ws, "history", "--status", "needs_approval")
    # 09:00 in Auckland (21:00 UTC the day before) comes before 09:00 in Dubai (05:00 UTC)
    assert [(r["send_at"], r["timezone"]) for r in rows] == [
        ("2026-06-07T09:00:00+12:00", "Pacific/Auckland"),
        ("2026-06-07T09:00:00+04:00", "Asia/Dubai"),
    ]
    table = run_cli("history", "--workspace", ws, "--status", "needs_approval").stdout
    assert table.index("2026-06-07 09:00 +1200") < table.index("2026-06-07 09:00 +0400")
    assert "2026-06-07 05:00" not in table  # never UTC


def test_a_row_kept_before_time_zones_were_shows_in_the_workspaces_zone(tmp_path: Path) -> None:
    ws = workspace(tmp_path, LONG_IDS[:1])
    run_cli("run", "--workspace", ws, "--now", DUE)
    with sqlite3.connect(ws / "outreach.db") as connection:
        connection.execute("UPDATE outbox SET timezone = NULL")
    rows = as_json(ws, "history", "--status", "needs_approval")
    assert rows[0]["send_at"] == "2026-06-07T08:00:00+03:00"  # Helsinki, the workspace's
    assert rows[0]["timezone"] == "Europe/Helsinki"


def test_the_approval_table_shows_cost_card_and_warnings(tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(days=10)).strftime("1980-%m-%d")
    ws = workspace(tmp_path, [*LONG_IDS[:1], person("c-soon", "Soon", "UTC", birthday=soon)])
    run_cli("run", "--workspace", ws, "--now", DUE)  # Ada's gift: its ship-by day has passed
    run_cli("run", "--workspace", ws)  # the gift for c-soon ships in a week
    table = run_cli("queue", "list", "--workspace", ws, "--status", "needs_approval").stdout
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    rows = as_json(ws, "queue", "list", "--status", "needs_approval")
    late, soon_row = sorted(rows, key=lambda r: r["contact"] != LONG_IDS[0]["id"])
    assert late["cost"] == "12.5 EUR" and late["warnings"] == ["ship-by 2026-06-07 has passed"]
    assert soon_row["warnings"] == []
    assert "card: Happy birthday from all of us, Ada" in late["what"]
    assert "12.5 EUR" in lines[late["handle"]] and "ship-by 2026-06-07 has" in lines[late["handle"]]
    assert "has passed" not in lines[soon_row["handle"]]
    assert "P.S." not in table  # the card's first line only
    blocks = narrow(ws, "queue", "list", "--status", "needs_approval")
    assert f"{late['handle']}  2026-06-07 09:00 +0400  needs_approval  12.5 EUR" in blocks
    assert "warning: ship-by 2026-06-07 has passed" in blocks


MILESTONE_GIFT = """\
rules:
  - id: third-order-gift
    trigger:
      purchase_milestone: {count: [3]}
    action:
      gift: {item: Pencil, budget: {amount: 9, currency: EUR}, card: card, ship_days: 3}
    schedule: {at: "09:00", late_by_at_most: 7d}
"""


def test_a_gift_thanking_for_a_purchase_is_not_late_for_shipping_after_it(
    tmp_path: Path,
) -> None:
    """The third order's gift ships after the order by nature: its ship-by (never before the
    purchase) is no deadline missed, though that day has passed when someone approves it."""
    today = datetime.now(UTC).date()
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[person("c-1", "Ada", "UTC")],
        purchases=[
            {"id": f"p-{n}", "contact_id": "c-1", "date": str(today - timedelta(days=days)),
             "amount": "10.00", "currency": "EUR", "product": "Van"}
            for n, days in enumerate((40, 20, 2))
        ],
        rules={"gifts.yaml": MILESTONE_GIFT},
        templates={"card.j2": CARD},
    )  # fmt: skip
    ran = run_cli("run", "--workspace", ws)
    assert ran.exit_code == 0, ran.output
    (row,) = as_json(ws, "queue", "list", "--status", "needs_approval")
    assert row["rule"] == "third-order-gift" and row["warnings"] == []


def test_history_says_what_was_sent_and_keeps_the_message_id_at_hand(
    tmp_path: Path, server: FakeSendGrid
) -> None:
    ws = workspace(tmp_path, LONG_IDS[:1], server)
    env = {"SENDGRID_API_KEY": server.api_key}
    run_cli("run", "--workspace", ws, "--now", SENT, env=env)
    [sent] = as_json(ws, "history", "--status", "sent")
    assert sent["provider_id"] and sent["what"] == "Happy birthday, Ada!"
    table = run_cli("history", "--workspace", ws, "--status", "sent").stdout
    assert "Happy birthday, Ada!" in table and sent["provider_id"] not in table
    wide = run_cli("history", "--workspace", ws, "--status", "sent", "--wide").stdout
    assert sent["provider_id"] in wide


def test_a_retried_late_row_says_it_was_retried_everywhere(tmp_path: Path) -> None:
    ws = workspace(tmp_path, LONG_IDS[:1])
    run_cli("run", "--workspace", ws, "--now", "2026-06-13T06:00:00+00:00")  # 3 days late
    [late] = as_json(ws, "history", "--status", "late", "--rule", "birthday-note")
    assert "was due 2026-06-10 09:00 +0400" in late["reason"]
    result = run_cli("queue", "retry", late["handle"], "--workspace", ws)
    assert result.exit_code == 0, result.stdout
    note = f"retry requested by {by_whom()}"
    [row] = [r for r in as_json(ws, "queue", "list") if r["key"] == late["key"]]
    assert row["status"] == "pending" and row["reason"] == note
    table = run_cli("history", "--workspace", ws, "--rule", "birthday-note").stdout
    assert note in table and "was due" not in table
    status = json.loads(run_cli("status", "--workspace", ws, "--format", "json").stdout)
    [first, *_] = status["next"]
    assert (first["key"], first["status"], first["overdue"]) == (late["key"], "pending", True)
    assert first["reason"] == note
    assert (
        f"OVERDUE  birthday-note  {late['contact']}  email  (pending: {note})"
        in run_cli("status", "--workspace", ws).stdout
    )


def test_preview_shows_every_row_on_its_recipients_clock_in_the_order_of_the_instant(
    tmp_path: Path,
) -> None:
    """As it was already (checked): 09:00 in Auckland, Dubai and New York, in that order."""
    ws = make_workspace(
        tmp_path / "ws",
        contacts=[
            person("c-nyc", "Edsger", "America/New_York"),
            person("c-dxb", "Ada", "Asia/Dubai"),
            person("c-akl", "Grace", "Pacific/Auckland"),
        ],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )  # fmt: skip
    now = "2026-06-01T00:00:00+00:00"
    result = run_cli("preview", "--workspace", ws, "--now", now, "--format", "json")
    rows = json.loads(result.stdout)
    assert [(row["contact"], row["send_at"]) for row in rows] == [
        ("c-akl", "2026-06-10T09:00:00+12:00"),
        ("c-dxb", "2026-06-10T09:00:00+04:00"),
        ("c-nyc", "2026-06-10T09:00:00-04:00"),
    ]
    table = run_cli("preview", "--workspace", ws, "--now", now, env={"COLUMNS": "80"}).stdout
    times = re.findall(r"2026-\d\d-\d\d \d\d:\d\d [+-]\d{4}", table)
    assert times == ["2026-06-10 09:00 +1200", "2026-06-10 09:00 +0400", "2026-06-10 09:00 -0400"]
