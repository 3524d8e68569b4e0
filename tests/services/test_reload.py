"""The daemon reads again only what changed, and plans again only the rules that changed:
the outbox it records after such a reload is the one a fresh start on the same files and the
same history records, edit after edit (rules, templates, opt-outs, purchases, suppressions,
date columns, broken files)."""

from __future__ import annotations

import logging
import random
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import BIRTHDAY_TEMPLATE, csv_text, make_workspace

from outreach.adapters.channels.recording import RecordingChannel
from outreach.services.channels import ChannelSet
from outreach.services.runtime import Runtime
from outreach.services.workspace import load_workspace

NOW = datetime(2026, 6, 10, 10, tzinfo=UTC)
BIRTHDAY = """\
rules:
  - id: birthday-note
    trigger: {birthday: {lead_days: 0}}
    action: {email: {template: birthday}}
    schedule: {at: "09:00", late_by_at_most: 2d}
"""
THANKS = """\
rules:
  - id: thanks
    trigger: {purchase_milestone: {single_amount_over: 100}}
    action: {email: {template: thanks}}
    priority: 5
  - id: big-order
    trigger: {purchase_milestone: {single_amount_over: 100}}
    action: {task: {template: thanks, assignee: am@acme.test}}
"""
THANKS_TEMPLATE = "{% block subject %}Thank you{% endblock %}{% block text %}x{% endblock %}"
RENEWAL = """\
rules:
  - id: renewal
    trigger: {date: {field: renewal, offset_days: -1}}
    action: {email: {template: thanks}}
    schedule: {at: "08:00", late_by_at_most: 2d}
    priority: 9
"""
PEOPLE = [
    {"id": f"c-{i}", "first_name": f"P{i}", "email": f"p{i}@client.test",
     "birthday": "1980-06-10" if i % 2 else "1980-07-01", "renewal": "2026-06-11",
     "opted_out": "false"}
    for i in range(1, 9)
]  # fmt: skip


def purchase(number: int, contact: str, amount: int = 500) -> dict[str, object]:
    return {"id": f"o-{number}", "contact_id": contact, "date": "2026-06-10", "amount": amount,
            "currency": "EUR", "product": "p"}  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path / "ws",
        config={"policies": {"max_per_contact": {"count": 1, "days": 7}}},
        contacts=PEOPLE,
        purchases=[purchase(1, "c-1"), purchase(2, "c-2", 50), purchase(3, "c-4")],
        suppressions=["p8@client.test"],
        rules={"birthday.yaml": BIRTHDAY, "thanks.yaml": THANKS},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "thanks.j2": THANKS_TEMPLATE},
    )


# Edits, each as a person would make it to the files ---------------------------------------

Edit = Callable[[Path, random.Random], None]


def write(path: Path, text: str) -> None:
    time.sleep(0.01)  # a distinct mtime
    path.write_text(text)


def contacts_now(root: Path) -> list[dict[str, str]]:
    import csv

    with (root / "data/contacts.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def rule_edited(root: Path, pick: random.Random) -> None:
    at = pick.choice(["07:00", "09:30", "11:00"])
    write(root / "rules/birthday.yaml", BIRTHDAY.replace('"09:00"', f'"{at}"'))


def priority_edited(root: Path, pick: random.Random) -> None:
    text = (root / "rules/thanks.yaml").read_text()
    write(root / "rules/thanks.yaml", text.replace("priority: 5", "priority: -5"))


def template_edited(root: Path, pick: random.Random) -> None:
    write(root / "templates/thanks.j2", THANKS_TEMPLATE.replace("Thank you", f"Thanks {pick.random()}"))


def rule_added(root: Path, pick: random.Random) -> None:
    write(root / "rules/renewal.yaml", RENEWAL)  # reads a date column the others do not


def opted_out(root: Path, pick: random.Random) -> None:
    rows = contacts_now(root)
    pick.choice(rows)["opted_out"] = "true"
    write(root / "data/contacts.csv", csv_text(rows))


def purchase_appended(root: Path, pick: random.Random) -> None:
    with (root / "data/purchases.csv").open("a") as f:
        time.sleep(0.01)
        number = pick.randrange(100, 10_000)
        f.write(f"o-{number},c-{pick.randrange(1, 9)},2026-06-10,{pick.choice([40, 400])},EUR,p\n")


def suppression_added(root: Path, pick: random.Random) -> None:
    with (root / "data/suppressions.csv").open("a") as f:
        time.sleep(0.01)
        f.write(f"P{pick.randrange(1, 9)}@Client.test\n")


def contacts_broken(root: Path, pick: random.Random) -> None:
    text = (root / "data/contacts.csv").read_text()
    write(root / "data/contacts.csv", text + 'c-99,"unterminated,x@client.test\n')


def contacts_fixed(root: Path, pick: random.Random) -> None:
    rows = [row for row in contacts_now(root) if row["id"].startswith("c-")]
    write(root / "data/contacts.csv", csv_text([r for r in rows if r["id"] != "c-99"]))


EDITS: dict[str, Edit] = {
    f.__name__: f
    for f in (rule_edited, priority_edited, template_edited, rule_added, opted_out,
              purchase_appended, suppression_added, contacts_broken, contacts_fixed)
}  # fmt: skip


# The comparison ----------------------------------------------------------------------------


def outbox_rows(root: Path) -> list[tuple[object, ...]]:
    """Every row as recorded (its payload names the template file: from templates/ on, as
    rows copied with the store name the first workspace's)."""
    query = "SELECT key, rule_id, contact_id, status, send_at, payload, deadline FROM outbox"
    with sqlite3.connect(root / "outreach.db") as db:
        rows = db.execute(query).fetchall()
    return sorted((*row[:5], re.sub(r'[^"]*/templates/', "", row[5]), row[6]) for row in rows)


def settle(runtime: Runtime) -> None:
    assert runtime.watch() is False  # seen changing
    assert runtime.watch() is True


def fresh_copy(runtime: Runtime, target: Path) -> Path:
    """The workspace and its store as they are now, in `target` (the store closed first)."""
    runtime.store.engine.dispose()
    shutil.copytree(runtime.root, target)
    return target


def compare_with_fresh_start(runtime: Runtime, edit: Edit, pick: random.Random, twin: Path) -> None:
    """Make `edit` to the daemon's files and to a copy of them and its store; the daemon
    reloads what changed and plans, a daemon started afresh on the copy plans: same outbox."""
    copy = fresh_copy(runtime, twin)
    state = pick.getstate()
    edit(runtime.root, pick)
    pick.setstate(state)
    edit(copy, pick)
    settle(runtime)
    runtime.plan()
    fresh = Runtime.start(copy, {}, lambda: NOW)
    fresh.plan()
    assert outbox_rows(runtime.root) == outbox_rows(copy)
    mine, theirs = runtime.workspace, load_workspace(runtime.root)  # the same files, loaded whole
    assert mine.data == theirs.data
    assert mine.unsafe_to_send == theirs.unsafe_to_send
    assert [str(p) for p in mine.problems] == [str(p) for p in theirs.problems]
    fresh.store.engine.dispose()


SEQUENCES = [[name] for name in EDITS] + [
    ["rule_edited", "opted_out", "template_edited"],
    ["purchase_appended", "priority_edited", "suppression_added"],
    ["rule_added", "opted_out", "purchase_appended"],
    ["contacts_broken", "rule_edited", "contacts_fixed", "suppression_added"],
]


@pytest.mark.parametrize("names", SEQUENCES, ids="+".join)
def test_a_reload_of_what_changed_records_what_a_fresh_start_records(
    root: Path, tmp_path: Path, names: list[str]
) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.plan()
    pick = random.Random(11)
    for step, name in enumerate(names):
        compare_with_fresh_start(runtime, EDITS[name], pick, tmp_path / f"fresh-{step}")


@pytest.mark.parametrize("seed", range(4))
def test_random_edit_sequences_record_what_a_fresh_start_records(
    root: Path, tmp_path: Path, seed: int
) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.plan()
    pick = random.Random(seed)
    for step in range(5):
        name = pick.choice([n for n in EDITS if n != "contacts_fixed"])
        compare_with_fresh_start(runtime, EDITS[name], pick, tmp_path / f"fresh-{step}")


# What each kind of edit reads and plans ------------------------------------------------------


def test_a_rule_edit_keeps_the_data_and_its_indexes_and_plans_that_rule_only(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.plan()
    data = runtime.workspace.data
    assert data.indexes  # built by the first plan
    rule_edited(root, random.Random(1))
    with caplog.at_level(logging.INFO, logger="outreach.daemon"):
        settle(runtime)
        runtime.plan()
        runtime.plan()  # the ordinary tick after it: every rule again
    assert runtime.workspace.data is data
    reloaded, replanned = (
        [r for r in caplog.records if r.getMessage() == message]
        for message in ("workspace reloaded", "re-planning only the rules that changed")
    )
    assert [r.fields["read"] for r in reloaded] == ["authoring"]
    assert [r.fields["rules"] for r in replanned] == ["birthday-note"]


def test_a_purchases_edit_reads_only_the_purchases_and_keeps_the_contacts_lookups(
    root: Path,
) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.plan()
    before = runtime.workspace.data
    birthday_index = before.indexes["birthday"]
    purchase_appended(root, random.Random(1))
    settle(runtime)
    after = runtime.workspace.data
    assert after.contacts is before.contacts and after.companies is before.companies
    assert after.purchases != before.purchases
    assert after.indexes["birthday"] is birthday_index  # built from the contacts still held
    assert "last purchase" not in after.indexes  # built from purchases no longer held
    assert runtime.stale and runtime.replan is None  # data changed: every rule next


def test_a_rule_reading_a_new_date_column_reads_the_contacts_again(root: Path) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    rule_added(root, random.Random(1))
    settle(runtime)
    assert runtime.workspace.data.contacts["c-1"].dates["renewal"].isoformat() == "2026-06-11"


def test_a_template_shared_by_no_rule_re_plans_every_rule(root: Path) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.plan()
    write(root / "templates/footer.j2", "{% block text %}Regards{% endblock %}")
    settle(runtime)
    assert runtime.replan == {"birthday-note", "thanks", "big-order"}


# Opt-outs and suppressions are never missed --------------------------------------------------


@pytest.mark.parametrize("how", ["opted_out", "suppressed"])
def test_an_opt_out_or_suppression_added_after_planning_stops_the_send(
    root: Path, how: str
) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.acquire()
    runtime.plan()
    due = {row[2] for row in outbox_rows(root) if row[3] == "pending"}
    assert "c-1" in due
    if how == "opted_out":
        rows = contacts_now(root)
        rows[0]["opted_out"] = "yes"
        write(root / "data/contacts.csv", csv_text(rows))
    else:
        with (root / "data/suppressions.csv").open("a") as f:
            f.write("P1@CLIENT.test\n")
    settle(runtime)
    email = RecordingChannel()
    runtime.channels = ChannelSet(runtime.workspace.config, root, {}, overrides={"email": email})
    runtime.plan()
    runtime.dispatch()
    sent = {key.split(":")[1] for key in email.keys}
    assert "c-1" not in sent and sent  # the others still go
    runtime.release()


def test_a_broken_contacts_row_withholds_its_address_and_keeps_the_rules(root: Path) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    engine = runtime.workspace.engine
    contacts_broken(root, random.Random(1))
    settle(runtime)
    assert "possibly opted out" in runtime.workspace.data.do_not_write["x@client.test"]
    assert any("contacts.csv:10:1" in str(p) for p in runtime.workspace.errors)
    assert runtime.workspace.engine is engine


def test_a_contacts_file_that_cannot_be_read_stops_sending_until_it_is_back(root: Path) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    runtime.acquire()
    text = (root / "data/contacts.csv").read_text()
    (root / "data/contacts.csv").unlink()
    settle(runtime)
    assert runtime.workspace.unsafe_to_send == "the contacts file cannot be read"
    runtime.plan()
    assert runtime.dispatch().outcomes == {}
    write(root / "data/contacts.csv", text)
    settle(runtime)
    assert runtime.workspace.unsafe_to_send is None
    assert runtime.workspace.data == load_workspace(root).data
    runtime.release()


def test_a_data_edit_while_outreach_yaml_is_broken_sends_nothing(root: Path) -> None:
    runtime = Runtime.start(root, {}, lambda: NOW)
    config = (root / "outreach.yaml").read_text()
    write(root / "outreach.yaml", "timezone: [\n")
    settle(runtime)
    purchase_appended(root, random.Random(1))
    settle(runtime)
    assert "outreach.yaml has errors" in (runtime.workspace.unsafe_to_send or "")
    write(root / "outreach.yaml", config)
    settle(runtime)
    assert runtime.workspace.unsafe_to_send is None
