"""Hostile data, generated: whatever a cell of the contacts or purchases file holds, loading
and planning never raise, a bad cell is a located problem, the sound contact is still
planned, and a contact who may have opted out is never written to."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from helpers import make_workspace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.core.model import Status
from outreach.services.workspace import load_workspace

NOW = datetime(2026, 6, 10, 8, tzinfo=UTC)
RULES = """\
rules:
  - id: bday
    trigger: {birthday: {lead_days: 3}}
    action: {email: {template: note}}
  - id: years
    trigger: {anniversary: {}}
    action: {email: {template: note}}
  - id: before
    trigger: {date: {field: renewal, offset_days: -36600}}
    action: {email: {template: note}}
  - id: after
    trigger: {date: {field: renewal, offset_days: 36600}}
    action: {task: {template: note, assignee: am@example.test}}
  - id: quiet
    trigger: {inactivity: {days: 36600}}
    action: {email: {template: note}}
  - id: total
    trigger: {purchase_milestone: {lifetime_total: [1, 1000000000000000]}}
    action: {gift: {item: Pencil, budget: {amount: 40, currency: EUR}, card: note}}
  - id: big
    trigger: {purchase_milestone: {single_amount_over: 0}}
    action: {email: {template: note}}
  - id: stage
    trigger: {loyalty_stage: {to: [first_time_customer, client, advocate]}}
    action: {email: {template: note}}
"""
NOTE = (
    "{% block subject %}Hi {{ contact.first_name }} {{ occasion.kind }}{% endblock %}"
    "{% block text %}{{ occasion.date|date }} {{ occasion.get('total', 0)|money('EUR') }}"
    "{% endblock %}"
)
SOUND = {
    "id": "c-ok",
    "first_name": "Ada",
    "email": "ada@example.test",
    "birthday": "1980-06-12",
    "address_line1": "Main St 1",
    "city": "Reykjavík",
    "opted_out": "false",
}
CLEARLY_NOT_OPTED_OUT = {"false", "no", "0", "n", ""}

NASTY = [
    "9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "1e999999999", "-1e999999999",
    "1E-999999999", "NaN", "-Infinity", "0E-999999", "1" * 5000, "", " ", "true", "maybe",
    "[/x]", "[bold]", "\x1b[2J", "{{ 7*7 }}", "{% raw %}", "ann@example.test(x)",
    "x@y.", "Ann <a@b.test>", "a:b", "%3A", "\u202e", "\x00", "\n", '"', "c-ok", "ｃ-ok",
    "Mars/Olympus", "Europe/Reykjavik", "xx-NOPE", "--06-10", "02-29", "00-00", "13-01",
]  # fmt: skip
cells = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
COLUMNS = ("id", "first_name", "email", "birthday", "timezone", "locale", "company_id", "owner",
           "tags", "customer_since", "referred_by", "opted_out", "renewal", "address_line1",
           "city")  # fmt: skip


def contacts_csv(hostile: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow([SOUND.get(c, "") for c in COLUMNS])
    writer.writerow([hostile.get(c, "") for c in COLUMNS])
    return out.getvalue()


def purchases_csv(rows: list[tuple[str, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("id", "contact_id", "date", "amount", "currency", "product"))
    writer.writerow(("p-ok", "c-ok", "2026-06-09", "100", "EUR", "Van"))
    for i, (contact, day, amount, currency) in enumerate(rows):
        writer.writerow((f"p-{i}", contact, day, amount, currency, "Van"))
    return out.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hostile=st.fixed_dictionaries(
        {"id": st.sampled_from(["c-x", "c-ok", "c:x", "c%x", ""])},
        optional={column: cells for column in COLUMNS if column != "id"},
    ),
    purchases=st.lists(
        st.tuples(st.sampled_from(["c-x", "c-ok", "c-none", ""]), cells, cells, cells),
        max_size=4,
    ),
)
def test_no_cell_stops_loading_or_planning(
    tmp_path_factory, hostile: dict[str, str], purchases: list[tuple[str, str, str, str]]
) -> None:
    root = make_workspace(
        tmp_path_factory.mktemp("ws"),
        contacts=contacts_csv(hostile),
        purchases=purchases_csv(purchases),
        rules={"r.yaml": RULES},
        templates={"note.j2": NOTE},
    )
    workspace = load_workspace(root)

    decisions = workspace.engine.plan(workspace.data, NOW, NOW + timedelta(days=30))

    for problem in workspace.problems:
        assert problem.location.line is not None, str(problem)
    written = [
        d
        for d in decisions
        if d.contact_id == hostile["id"] and d.status in (Status.PLANNED, Status.NEEDS_APPROVAL)
    ]
    if hostile["id"] == "c-ok" or hostile.get("opted_out", "").strip().lower() not in (
        CLEARLY_NOT_OPTED_OUT
    ):
        assert not written, "a duplicate id or an opt-out that may be true withholds"
    else:
        ada = [d for d in decisions if d.key == "bday:c-ok:2026"]
        assert ada and ada[0].status is Status.PLANNED, "the sound contact is still planned"
