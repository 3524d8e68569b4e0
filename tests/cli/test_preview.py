"""`outreach preview`: the dry run, its JSON contract (SPEC.md), filters, formats, exit codes."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, NOW, make_workspace, run_cli

KEYS = [
    "rule",
    "contact",
    "action",
    "channel",
    "send_at",
    "key",
    "status",
    "reason",
    "subject",
    "text",
    "html",
]
STATUSES = {"planned", "needs_approval", "suppressed", "capped", "late", "error"}

# Two rules firing on the same birthdays, so that ordering by rule can be seen.
SECOND_RULE = """\
rules:
  - id: a-birthday-task
    trigger:
      birthday: {}
    action:
      task: {template: birthday}
    schedule: {at: "09:00"}
"""

HTML_TEMPLATE = """\
{% block subject %}Happy birthday, {{ contact.first_name }}!{% endblock %}
{% block text %}Dear {{ contact.first_name }},

all the best.{% endblock %}
{% block html %}<html><body><p>Dear {{ contact.first_name }},</p>
<p>all the best.</p></body></html>{% endblock %}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Birthdays in three zones; two share the instant 2026-06-10T21:00Z."""
    return make_workspace(
        tmp_path / "ws",
        contacts=[
            # 2026-06-11 09:00 in Auckland (+12:00) = 2026-06-10T21:00Z
            {
                "id": "c-akl",
                "first_name": "Aroha",
                "email": "aroha@example.test",
                "birthday": "1979-06-11",
                "timezone": "Pacific/Auckland",
            },
            # 09:00 in Los Angeles (-07:00) = 2026-06-10T16:00Z
            {
                "id": "c-lax",
                "first_name": "Lee",
                "email": "lee@example.test",
                "birthday": "06-10",
                "timezone": "America/Los_Angeles",
            },
            # 2026-06-05 09:00 in New York (-04:00) = 13:00Z on 06-05
            {
                "id": "c-nyc",
                "first_name": "Grace",
                "email": "grace@example.test",
                "birthday": "06-05",
                "timezone": "America/New_York",
            },
            # 2026-06-11 09:00 in Auckland too: same instant as c-akl
            {
                "id": "c-akl2",
                "first_name": "Tane",
                "email": "tane@example.test",
                "birthday": "1990-06-11",
                "timezone": "Pacific/Auckland",
            },
            # no birthday: never planned
            {"id": "c-none", "first_name": "Nobody", "email": "nobody@example.test"},
        ],
        rules={"notes.yaml": BIRTHDAY_RULE, "tasks.yaml": SECOND_RULE},
        templates={"birthday.j2": HTML_TEMPLATE},
    )


def preview(ws: Path, *args: str, now: str = NOW) -> tuple[int, list[dict], str]:
    result = run_cli("preview", "--workspace", ws, "--now", now, "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_json_elements_have_exactly_the_spec_keys(workspace: Path) -> None:
    code, plan, _ = preview(workspace, "--days", "30")

    assert code == 0
    assert plan, "the birthdays fall inside the window"
    for element in plan:
        assert list(element) == KEYS
        assert element["status"] in STATUSES
        assert element["action"] in {"email", "gift", "task", "webhook"}
        assert isinstance(element["key"], str) and element["key"]


def test_json_values(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30", "--rule", "birthday-note")
    akl = next(d for d in plan if d["contact"] == "c-akl")

    assert akl == {
        "rule": "birthday-note",
        "contact": "c-akl",
        "action": "email",
        "channel": "email",
        "send_at": "2026-06-11T09:00:00+12:00",
        "key": "birthday-note:c-akl:2026",
        "status": "planned",
        "reason": None,
        "subject": "Happy birthday, Aroha!",
        "text": "Dear Aroha,\n\nall the best.",
        "html": akl["html"],
    }
    assert "<p>Dear Aroha,</p>" in akl["html"]


def test_send_at_is_iso_with_the_recipients_offset(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30", "--rule", "birthday-note")
    send_at = {d["contact"]: d["send_at"] for d in plan}

    assert send_at == {
        "c-akl": "2026-06-11T09:00:00+12:00",
        "c-akl2": "2026-06-11T09:00:00+12:00",
        "c-lax": "2026-06-10T09:00:00-07:00",
        "c-nyc": "2026-06-05T09:00:00-04:00",
    }
    for text in send_at.values():
        assert datetime.fromisoformat(text).utcoffset() is not None


def test_order_is_send_at_then_rule_then_contact(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30")
    order = [(d["send_at"], d["rule"], d["contact"]) for d in plan]

    assert order == [
        ("2026-06-05T09:00:00-04:00", "a-birthday-task", "c-nyc"),
        ("2026-06-05T09:00:00-04:00", "birthday-note", "c-nyc"),
        ("2026-06-10T09:00:00-07:00", "a-birthday-task", "c-lax"),
        ("2026-06-10T09:00:00-07:00", "birthday-note", "c-lax"),
        # 2026-06-10T21:00Z: later in absolute time than Los Angeles' 16:00Z
        ("2026-06-11T09:00:00+12:00", "a-birthday-task", "c-akl"),
        ("2026-06-11T09:00:00+12:00", "a-birthday-task", "c-akl2"),
        ("2026-06-11T09:00:00+12:00", "birthday-note", "c-akl"),
        ("2026-06-11T09:00:00+12:00", "birthday-note", "c-akl2"),
    ]


def test_rule_filter(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30", "--rule", "a-birthday-task")

    assert {d["rule"] for d in plan} == {"a-birthday-task"}
    assert len(plan) == 4
    assert {d["action"] for d in plan} == {"task"}


def test_contact_filter(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30", "--contact", "c-lax")

    assert [(d["rule"], d["contact"]) for d in plan] == [
        ("a-birthday-task", "c-lax"),
        ("birthday-note", "c-lax"),
    ]


def test_rule_and_contact_filters_combine(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--days", "30", "--contact", "c-lax", "--rule", "birthday-note")

    assert [(d["rule"], d["contact"]) for d in plan] == [("birthday-note", "c-lax")]


@pytest.mark.parametrize(
    ("days", "contacts"),
    [
        (0, set()),
        (3, set()),
        (5, {"c-nyc"}),  # until 2026-06-06T08:00Z
        (9, {"c-nyc"}),  # until 2026-06-10T08:00Z: Los Angeles is due at 16:00Z
        (10, {"c-nyc", "c-lax", "c-akl", "c-akl2"}),  # until 2026-06-11T08:00Z
    ],
)
def test_days_bounds_the_window(workspace: Path, days: int, contacts: set[str]) -> None:
    _, plan, _ = preview(workspace, "--days", str(days), "--rule", "birthday-note")

    assert {d["contact"] for d in plan} == contacts


def test_days_excludes_what_is_due_just_after_the_window(workspace: Path) -> None:
    # until 2026-06-10T15:00Z: Los Angeles' 09:00 (16:00Z) is one hour outside
    _, plan, _ = preview(
        workspace, "--days", "9", "--rule", "birthday-note", now="2026-06-01T15:00:00+00:00"
    )
    assert {d["contact"] for d in plan} == {"c-nyc"}
    _, plan, _ = preview(
        workspace, "--days", "9", "--rule", "birthday-note", now="2026-06-01T16:30:00+00:00"
    )
    assert {d["contact"] for d in plan} == {"c-nyc", "c-lax"}


def test_default_window_is_14_days(workspace: Path) -> None:
    _, plan, _ = preview(workspace, "--rule", "birthday-note", now="2026-05-27T08:00:00+00:00")
    # until 2026-06-10T08:00Z: New York only
    assert {d["contact"] for d in plan} == {"c-nyc"}


def test_now_without_offset_is_read_in_the_workspace_zone(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        config={"timezone": "Pacific/Auckland"},
        contacts=[
            {
                "id": "c-1",
                "first_name": "Ada",
                "email": "ada@example.test",
                "birthday": "06-02",
                "timezone": "UTC",
            }
        ],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    # 2026-06-02T10:00 in Auckland is 2026-06-01T22:00Z: the UTC birthday at 09:00 on 06-02
    # is 11 h ahead, inside a 1-day window.
    _, plan, _ = preview(ws, "--days", "1", now="2026-06-02T10:00:00")
    assert [d["send_at"] for d in plan] == ["2026-06-02T09:00:00+00:00"]
    assert plan[0]["status"] == "planned"


def test_html_is_one_self_contained_page(workspace: Path) -> None:
    result = run_cli(
        "preview", "--workspace", workspace, "--now", NOW, "--days", "30", "--format", "html"
    )

    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert page.rstrip().endswith("</html>")
    assert page.lower().count("<html") == 1, "messages are not pasted in as pages"
    lowered = page.lower()
    for external in ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http"):
        assert external not in lowered
    assert '<link rel="stylesheet"' not in lowered
    assert "<script" not in lowered
    assert "Happy birthday, Aroha!" in page
    assert "Happy birthday, Grace!" in page
    # The message's own html is inside a sandboxed iframe (srcdoc), escaped.
    frames = re.findall(r"<iframe\b[^>]*>", page)
    assert frames, "the html body is shown in an iframe"
    for frame in frames:
        assert re.search(r"\bsandbox\b(?!=\"[^\"]*allow-scripts)", frame), frame
        assert "srcdoc=" in frame
        assert "allow-scripts" not in frame
    assert "&lt;p&gt;Dear Aroha,&lt;/p&gt;" in page


def test_table_format(workspace: Path) -> None:
    result = run_cli(
        "preview", "--workspace", workspace, "--now", NOW, "--days", "30", "--format", "table"
    )

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for word in (
        "birthday-note",
        "a-birthday-task",
        "c-akl",
        "c-nyc",
        "planned",
        "Happy birthday, Grace!",
        "2026-06-05 09:00",
    ):
        assert word in out
    assert "\x1b[" not in out, "no terminal colours when not writing to a terminal"


def test_table_is_the_default(workspace: Path) -> None:
    default = run_cli("preview", "--workspace", workspace, "--now", NOW, "--days", "30")
    table = run_cli(
        "preview", "--workspace", workspace, "--now", NOW, "--days", "30", "--format", "table"
    )
    assert default.exit_code == 0
    assert default.stdout == table.stdout


@pytest.mark.parametrize("fmt", ["json", "html", "table"])
def test_out_writes_the_file_and_nothing_to_stdout(
    workspace: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"plan.{fmt}"
    result = run_cli(
        "preview",
        "--workspace",
        workspace,
        "--now",
        NOW,
        "--days",
        "30",
        "--format",
        fmt,
        "--out",
        out,
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert "Happy birthday, Grace!" in text or (fmt == "table" and "c-nyc" in text)
    if fmt == "json":
        assert len(json.loads(text)) == 8
    assert str(out.name) in result.stderr


def test_preview_writes_and_sends_nothing(workspace: Path) -> None:
    before = sorted(p.relative_to(workspace) for p in workspace.rglob("*"))
    for fmt in ("json", "table", "html"):
        result = run_cli(
            "preview",
            "--workspace",
            workspace,
            "--now",
            NOW,
            "--days",
            "30",
            "--format",
            fmt,
            cwd=workspace,
        )
        assert result.exit_code == 0
    after = sorted(p.relative_to(workspace) for p in workspace.rglob("*"))
    assert after == before, "no store, no out/ files"


def test_unknown_rule_is_a_usage_error(workspace: Path) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--rule", "nope")

    assert result.exit_code == 2
    assert "nope" in result.stderr
    assert "birthday-note" in result.stderr, "the known rules are listed"
    assert result.stdout == ""


def test_unknown_contact_is_a_usage_error(workspace: Path) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--contact", "c-nope")

    assert result.exit_code == 2
    assert "c-nope" in result.stderr


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01", "2026-06-01T25:00", ""])
def test_bad_now_is_a_usage_error(workspace: Path, bad: str) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", bad, "--format", "json")

    assert result.exit_code == 2
    assert "--now" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("days", ["-1", "soon"])
def test_bad_days_is_a_usage_error(workspace: Path, days: str) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--days", days)
    assert result.exit_code == 2


def test_bad_format_is_a_usage_error(workspace: Path) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--format", "pdf")
    assert result.exit_code == 2


def test_no_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    result = run_cli("preview", "--now", NOW, cwd=tmp_path)

    assert result.exit_code == 1
    assert "outreach init" in result.stderr
    assert "outreach.yaml" in result.stderr
    assert "Traceback" not in result.output


def test_missing_workspace_folder(tmp_path: Path) -> None:
    result = run_cli("preview", "--workspace", tmp_path / "nowhere", "--now", NOW)
    assert result.exit_code == 1
    assert "outreach init" in result.stderr


def test_workspace_environment_variable_is_honoured(workspace: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(
        "preview",
        "--now",
        NOW,
        "--days",
        "30",
        "--format",
        "json",
        cwd=elsewhere,
        env={"OUTREACH_WORKSPACE": str(workspace)},
    )

    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 8


def test_workspace_option_wins_over_the_environment(workspace: Path, tmp_path: Path) -> None:
    result = run_cli(
        "preview",
        "--workspace",
        workspace,
        "--now",
        NOW,
        "--days",
        "30",
        "--format",
        "json",
        cwd=tmp_path,
        env={"OUTREACH_WORKSPACE": str(tmp_path / "nowhere")},
    )
    assert result.exit_code == 0, result.stderr


def test_current_folder_is_the_last_resort(workspace: Path) -> None:
    result = run_cli("preview", "--now", NOW, "--days", "30", "--format", "json", cwd=workspace)

    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 8


def test_short_workspace_option(workspace: Path) -> None:
    result = run_cli("preview", "-w", workspace, "--now", NOW, "--days", "30", "--format", "json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 8


def test_statuses_in_json(tmp_path: Path) -> None:
    """Suppressed, opted out, needs_approval, late and error, each with a reason."""
    rules = BIRTHDAY_RULE + (
        "  - id: gift\n"
        "    trigger:\n"
        "      birthday: {}\n"
        "    action:\n"
        "      gift: {item: Pencil, card: birthday}\n"
        "  - id: broken\n"
        "    trigger:\n"
        "      birthday: {}\n"
        "    action:\n"
        "      email: {template: undefined-var}\n"
    )
    ws = make_workspace(
        tmp_path,
        contacts=[
            {
                "id": "c-ok",
                "first_name": "Ada",
                "email": "ada@example.test",
                "birthday": "06-10",
                "address_line1": "1 Analytical Way",
                "city": "London",
            },
            {
                "id": "c-out",
                "first_name": "Bo",
                "email": "bo@example.test",
                "birthday": "06-10",
                "opted_out": True,
            },
            {"id": "c-sup", "first_name": "Cy", "email": "cy@example.test", "birthday": "06-10"},
            {"id": "c-late", "first_name": "Di", "email": "di@example.test", "birthday": "05-25"},
        ],
        suppressions=["CY@example.test"],
        rules={"notes.yaml": rules},
        templates={
            "birthday.j2": BIRTHDAY_TEMPLATE,
            "undefined-var.j2": "{% block subject %}Hi{% endblock %}\n"
            "{% block text %}\n{{ contact.nickname }}\n{% endblock %}\n",
        },
    )
    _, plan, _ = preview(ws, "--days", "30")
    status = {(d["rule"], d["contact"]): (d["status"], d["reason"]) for d in plan}

    assert status[("birthday-note", "c-ok")] == ("planned", None)
    assert status[("birthday-note", "c-out")][0] == "suppressed"
    assert "opted out" in status[("birthday-note", "c-out")][1]
    assert status[("birthday-note", "c-sup")][0] == "suppressed"
    assert "suppression" in status[("birthday-note", "c-sup")][1]
    assert status[("birthday-note", "c-late")][0] == "late"
    assert status[("gift", "c-ok")][0] == "needs_approval"
    assert status[("broken", "c-ok")][0] == "error"
    assert "undefined-var.j2:3" in status[("broken", "c-ok")][1]
    assert "nickname" in status[("broken", "c-ok")][1]
    for d in plan:
        if d["status"] != "planned":
            assert d["reason"], d
        if d["status"] == "error":
            assert d["subject"] is None and d["text"] is None, "never a half-rendered message"


def test_usage_errors_point_at_the_commands_own_help(workspace: Path) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--rule", "nope")

    assert result.exit_code == 2
    assert "outreach preview --help" in result.stderr


def test_rule_filter_does_not_change_the_frequency_cap(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        "  - id: bday\n    trigger: {birthday: {}}\n    priority: 10\n"
        "    action: {email: {template: hello}}\n"
        "  - id: anniv\n    trigger: {anniversary: {}}\n"
        "    action: {email: {template: hello}}\n"
    )
    ws = make_workspace(
        tmp_path,
        config={"policies": {"max_per_contact": {"count": 1, "days": 7}}},
        contacts=[
            {
                "id": "c1",
                "first_name": "Ada",
                "email": "a@example.test",
                "birthday": "1980-03-10",
                "customer_since": "2020-03-10",
            }
        ],
        rules={"r.yaml": rules},
        templates={
            "hello.j2": "{% block subject %}Hi{% endblock %}{% block text %}x{% endblock %}"
        },
    )
    args = ("preview", "--workspace", ws, "--now", "2026-03-09T00:00:00+00:00", "--format", "json")
    every = json.loads(run_cli(*args).stdout)
    only = json.loads(run_cli(*args, "--rule", "anniv").stdout)
    assert [d["status"] for d in every if d["rule"] == "anniv"] == ["capped"]
    assert [d["status"] for d in only] == ["capped"]


@pytest.mark.parametrize("extra", [("--days", "3000000"), ("--now", "9999-12-30")])
def test_out_of_range_moments_are_usage_errors(tmp_path: Path, extra: tuple[str, str]) -> None:
    ws = make_workspace(tmp_path)
    args = ["preview", "--workspace", ws, "--format", "json"]
    if extra[0] == "--days":
        args += ["--now", "2026-03-09T00:00:00+00:00"]
    result = run_cli(*args, *extra)
    assert result.exit_code == 2, result.output
