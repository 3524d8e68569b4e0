"""`outreach explain CONTACT`: for each rule, fires or not, and the chain of reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import BIRTHDAY_TEMPLATE, NOW, make_workspace, run_cli

RULES = """\
rules:
  - id: gold-birthday
    trigger:
      birthday: {}
    when: "contact.tier in ['gold', 'platinum']"
    action:
      email: {template: birthday}
  - id: plain-birthday
    trigger:
      birthday: {lead_days: 2}
    action:
      email: {template: birthday}
    schedule: {at: "10:30"}
  - id: sleeping
    enabled: false
    trigger:
      birthday: {}
    action:
      email: {template: birthday}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path,
        contacts=[
            {
                "id": "c-silver",
                "first_name": "Ragnar",
                "last_name": "Þórðarson",
                "email": "ragnar@example.test",
                "birthday": "1978-11-09",
                "timezone": "Atlantic/Reykjavik",
                "tier": "silver",
            },
            {
                "id": "c-gold",
                "first_name": "Ada",
                "email": "ada@example.test",
                "birthday": "1985-06-10",
                "timezone": "Europe/London",
                "tier": "gold",
            },
            {"id": "c-nobday", "first_name": "Bo", "email": "bo@example.test", "tier": "gold"},
        ],
        rules={"notes.yaml": RULES},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


def explain(ws: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("explain", *args, "--workspace", ws, "--now", NOW)
    return result.exit_code, result.stdout, result.stderr


def sections(text: str) -> dict[str, str]:
    """The text output split per rule: 'rule-id: verdict' starts a section."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        head = line.split(":", 1)[0]
        if (
            line
            and not line.startswith(" ")
            and head in {"gold-birthday", "plain-birthday", "sleeping"}
        ):
            current = head
            found[current] = line + "\n"
        elif current is not None:
            found[current] += line + "\n"
    return found


def test_every_rule_is_explained(workspace: Path) -> None:
    code, out, _ = explain(workspace, "c-silver")

    assert code == 0
    assert "Ragnar Þórðarson" in out and "c-silver" in out
    assert set(sections(out)) == {"gold-birthday", "plain-birthday", "sleeping"}


def test_failing_when_shows_the_values_it_read(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-silver")
    gold = sections(out)["gold-birthday"]

    assert "does not fire" in gold.splitlines()[0]
    when = next(line for line in gold.splitlines() if "when:" in line)
    assert "contact.tier in ['gold', 'platinum']" in when
    assert "false" in when
    assert "contact.tier = 'silver'" in when
    assert "✗" in when


def test_next_occasion_date_is_shown(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-silver")
    gold = sections(out)["gold-birthday"]
    plain = sections(out)["plain-birthday"]

    # Born 1978-11-09; now is 2026-06-01: the next birthday is 2026-11-09, age 48.
    assert "2026-11-09" in gold
    assert "age 48" in gold
    # lead_days 2, at 10:30 Reykjavik time.
    assert "2026-11-07 10:30 +0000" in plain


def test_firing_rule_says_so_with_status_and_time(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-gold")
    gold = sections(out)["gold-birthday"]

    assert "fires" in gold.splitlines()[0] and "does not" not in gold.splitlines()[0]
    assert "contact.tier = 'gold'" in gold
    assert "planned" in gold
    assert "2026-06-10 09:00 +0100" in gold


def test_disabled_rule_does_not_fire(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-gold")
    sleeping = sections(out)["sleeping"]
    assert "does not fire" in sleeping
    assert "disabled" in sleeping


def test_no_occasion_is_explained(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-nobday")
    plain = sections(out)["plain-birthday"]
    assert "does not fire" in plain
    assert "no birthday" in plain


def test_rule_option_limits_to_one_rule(workspace: Path) -> None:
    code, out, _ = explain(workspace, "c-silver", "--rule", "plain-birthday")

    assert code == 0
    assert set(sections(out)) == {"plain-birthday"}


def test_json_format(workspace: Path) -> None:
    code, out, _ = explain(workspace, "c-silver", "--format", "json")

    assert code == 0
    found = {item["rule"]: item for item in json.loads(out)}
    assert list(found) == ["gold-birthday", "plain-birthday", "sleeping"], "in file order"
    for item in found.values():
        assert set(item) >= {"rule", "fires", "steps", "status", "send_at", "key"}
        for step in item["steps"]:
            assert set(step) == {"ok", "text"}
            assert step["ok"] in (True, False, None)

    gold = found["gold-birthday"]
    assert gold["fires"] is False
    failing = [s for s in gold["steps"] if s["ok"] is False]
    assert failing, "the reason it does not fire is a failed step"
    assert "contact.tier = 'silver'" in failing[-1]["text"]

    plain = found["plain-birthday"]
    assert plain["fires"] is True
    assert plain["status"] == "planned"
    assert plain["send_at"] == "2026-11-07T10:30:00+00:00"
    assert plain["key"] == "plain-birthday:c-silver:2026"


def test_json_with_rule(workspace: Path) -> None:
    _, out, _ = explain(workspace, "c-gold", "--format", "json", "--rule", "gold-birthday")
    (item,) = json.loads(out)
    assert item["rule"] == "gold-birthday"
    assert item["fires"] is True
    assert item["key"] == "gold-birthday:c-gold:2026"


def test_unknown_contact_is_a_usage_error(workspace: Path) -> None:
    code, out, err = explain(workspace, "c-nobody")
    assert code == 2
    assert "c-nobody" in err
    assert out == ""


def test_unknown_rule_is_a_usage_error(workspace: Path) -> None:
    code, _, err = explain(workspace, "c-gold", "--rule", "nope")
    assert code == 2
    assert "nope" in err


def test_contact_argument_is_required(workspace: Path) -> None:
    result = run_cli("explain", "--workspace", workspace, "--now", NOW)
    assert result.exit_code == 2


def test_bad_now_is_a_usage_error(workspace: Path) -> None:
    result = run_cli("explain", "c-gold", "--workspace", workspace, "--now", "next week")
    assert result.exit_code == 2
    assert "--now" in result.stderr
