"""The repository root is a working demo workspace (SPEC.md): it validates, and a month of
preview plans personal notes in every demo language, without a single error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_cli

from outreach.adapters.sources.yamlfile import load_yaml_file

ROOT = Path(__file__).parents[2]
NOW = "2026-11-22T08:00:00+00:00"
LOCALES = ["is", "uk", "hu", "et", "hy"]


@pytest.fixture(scope="module")
def plan() -> list[dict]:
    result = run_cli(
        "preview", "--workspace", ROOT, "--days", "30", "--now", NOW, "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _contact_locales() -> dict[str, str]:
    config = load_yaml_file(ROOT / "outreach.yaml", "outreach.yaml").data
    path = ROOT / config["data"]["contacts"]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    default = config.get("locale", "en")
    return {row["id"]: (row.get("locale") or default).lower() for row in rows}


def _email_templates() -> dict[str, str]:
    """rule id -> the template its email action uses."""
    found = {}
    for path in sorted((ROOT / "rules").glob("*.y*ml")):
        for rule in load_yaml_file(path, path.name).data["rules"]:
            email = rule["action"].get("email")
            if email:
                found[rule["id"]] = email["template"]
    return found


def test_demo_workspace_validates() -> None:
    result = run_cli("validate", "--workspace", ROOT)

    assert result.exit_code == 0, result.stderr
    assert "error" not in result.stderr.lower()


def test_demo_validates_from_inside_too() -> None:
    assert run_cli("validate", cwd=ROOT).exit_code == 0


def test_demo_plan_is_not_empty_and_has_no_errors(plan: list[dict]) -> None:
    assert len(plan) >= 10
    errors = [(d["rule"], d["contact"], d["reason"]) for d in plan if d["status"] == "error"]
    assert errors == []
    for d in plan:
        if d["status"] in ("planned", "needs_approval") and d["action"] == "email":
            assert d["subject"] and d["text"], d["key"]


def test_demo_plan_is_ordered(plan: list[dict]) -> None:
    from datetime import datetime

    keys = [(datetime.fromisoformat(d["send_at"]), d["rule"], d["contact"]) for d in plan]
    assert keys == sorted(keys)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_planned_email_in_each_demo_language(plan: list[dict], locale: str) -> None:
    locales = _contact_locales()
    emails = [
        d
        for d in plan
        if d["action"] == "email"
        and d["status"] == "planned"
        and locales.get(d["contact"]) == locale
    ]
    assert emails, f"no planned email to a '{locale}' contact in the next 30 days"


@pytest.mark.parametrize("locale", LOCALES)
def test_emails_in_each_language_use_that_languages_templates(
    plan: list[dict], locale: str
) -> None:
    """Not the English fallback: the rule's template has a variant for the locale."""
    locales = _contact_locales()
    templates = _email_templates()
    for d in plan:
        if d["action"] != "email" or locales.get(d["contact"]) != locale:
            continue
        name = templates[d["rule"]]
        variant = ROOT / "templates" / f"{name}.{locale}.j2"
        assert variant.is_file(), f"{d['rule']} -> {d['contact']}: no templates/{variant.name}"
        if d["status"] == "planned":
            english = (ROOT / "templates" / "_layout.j2").read_text(encoding="utf-8")
            assert "Best regards" in english
            assert "Best regards" not in d["text"], f"{d['key']} came out in English"


def test_demo_html_preview(tmp_path: Path) -> None:
    out = tmp_path / "preview.html"
    result = run_cli(
        "preview",
        "--workspace",
        ROOT,
        "--days",
        "30",
        "--now",
        NOW,
        "--format",
        "html",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert 'src="http' not in page and 'href="http' not in page
    assert "<iframe sandbox" in page


def test_demo_explain_in_json() -> None:
    for contact in ("c-01", "c-22"):
        result = run_cli("explain", contact, "--workspace", ROOT, "--now", NOW, "--format", "json")
        assert result.exit_code == 0, (contact, result.stderr)
        assert json.loads(result.stdout)


# The demo moves with the clock (`data_dated_for`): on any day, a newcomer's first preview is
# the lively picture the demo was written for. Moments across a year: a leap day, DST
# switches in Europe and the US, a year's end, late and early hours.
MOMENTS = [
    "2026-12-01T06:00:00+00:00",
    "2027-03-28T01:30:00+00:00",  # Europe springs forward
    "2027-06-15T23:59:00+00:00",
    "2027-11-07T12:00:00-05:00",  # the US falls back
    "2027-12-31T23:30:00+00:00",
    "2028-02-29T09:00:00+00:00",
]


def _alive(plan: list[dict]) -> None:
    def count(rule: str, status: str) -> int:
        return sum(1 for d in plan if d["rule"] in rule.split("|") and d["status"] == status)

    statuses = [d["status"] for d in plan]
    assert "error" not in statuses
    assert count("birthday-note", "planned") >= 1
    assert count("tenth-order-gift|porsche-pencil", "needs_approval") >= 1
    assert count("news-congrats", "planned") >= 1
    assert statuses.count("late") <= 2, [d["key"] for d in plan if d["status"] == "late"]


@pytest.mark.parametrize("now", [NOW, *MOMENTS])
def test_the_demo_is_alive_on_any_day(now: str) -> None:
    result = run_cli(
        "preview", "--workspace", ROOT, "--days", "30", "--now", now, "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    _alive(json.loads(result.stdout))
    assert "data_dated_for" in result.stderr  # it says the dates were moved


def test_the_anchor_day_shows_every_kind_of_gesture(plan: list[dict]) -> None:
    """The day the demo is written for: birthdays, anniversaries, milestones crossed this
    week awaiting approval, news, a suppressed note, and next to nothing late."""
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(NOW)
    _alive(plan)
    rules = {d["rule"] for d in plan if d["status"] in ("planned", "needs_approval")}
    assert {
        "birthday-note",
        "customer-anniversary",
        "news-congrats",
        "welcome-first-order",
    } <= rules
    assert any(d["status"] == "suppressed" for d in plan)
    gifts = [d for d in plan if d["action"] == "gift" and d["status"] == "needs_approval"]
    week = timedelta(days=7)
    assert len(gifts) >= 3
    assert all(abs(datetime.fromisoformat(d["send_at"]) - now) <= week for d in gifts)


def _message_templates() -> set[str]:
    """Every template a demo rule writes with: emails and gift cards for clients, and the
    notes drafted for account managers in tasks."""
    found = set()
    for path in sorted((ROOT / "rules").glob("*.y*ml")):
        for rule in load_yaml_file(path, path.name).data["rules"]:
            action = rule["action"]
            for kind, key in (("email", "template"), ("gift", "card"), ("task", "template")):
                if kind in action:
                    found.add(action[kind][key])
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_demo_message_template_has_a_variant_in_each_demo_language(locale: str) -> None:
    assert set(LOCALES) <= set(_contact_locales().values())
    templates = _message_templates()
    assert {"news-congrats", "renewal-reminder", "birthday"} <= templates
    missing = [
        n for n in sorted(templates) if not (ROOT / "templates" / f"{n}.{locale}.j2").is_file()
    ]
    assert missing == [], f"no {locale} variant of {missing}"


def test_drafted_notes_are_in_the_clients_language(plan: list[dict]) -> None:
    """A task's instructions are for the manager (English); its drafted note is the client's."""
    locales = _contact_locales()
    drafts = [d for d in plan if d["action"] == "task" and d["status"] == "planned"]
    assert {locales[d["contact"]] for d in drafts} >= {"is", "uk", "hu", "et", "hy"}
    for d in drafts:
        note = d["text"].split("Draft note:", 1)[1]
        english = "Best regards" in note and "Dear " in note
        assert english == locales[d["contact"]].startswith("en"), (d["key"], note[:80])
