"""`outreach validate`: every mistake reported at its `path:line[:col]`, none fatal; and
`preview` on the same broken workspace still plans everything sound."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, NOW, make_workspace, run_cli

# Each mistake lives in its own file or row; comments give the line numbers the tests expect.

CONTACTS = (
    "id,first_name,email,birthday,timezone,customer_since,tier\n"  # 1
    "c-ok,Ada,ada@example.test,1985-06-10,Europe/London,2020-01-01,gold\n"  # 2
    "c-date,Bob,bob@example.test,1980-06-11,,2020-13-45,gold\n"  # 3: customer_since at col 41
    "c-feb30,Cy,cy@example.test,1985-02-30,,,gold\n"  # 4: birthday at col 28
    "c-tz,Di,di@example.test,1990-06-12,Mars/Olympus_Mons,,gold\n"  # 5: timezone at col 36
    "c-ok2,Eve,eve@example.test,06-13,America/New_York,,silver\n"  # 6
)

PURCHASES = (
    "id,contact_id,date,amount,currency,product\n"  # 1
    "p-1,c-ok,2026-05-31,100.00,EUR,Van\n"  # 2
    "p-2,c-ok,2026-05-31,12;50,EUR,Van\n"  # 3: amount at col 21
)

RULES = {
    # line 5: `action` is indented one space too little
    "a-syntax.yaml": (
        "rules:\n"
        "  - id: broken\n"
        "    trigger:\n"
        "      birthday: {}\n"
        "     action:\n"
        "      email: {template: birthday}\n"
    ),
    "b-kinds.yaml": (
        "rules:\n"
        "  - id: wedding\n"
        "    trigger:\n"
        "      wedding: {}\n"  # 4:7 unknown kind
        "    action:\n"
        "      email: {template: birthday}\n"
        "  - id: misspelt\n"
        "    trigger:\n"
        "      birthdy: {lead_days: 1}\n"  # 9:7 did you mean birthday
        "    action:\n"
        "      email: {template: birthday}\n"
    ),
    "c-notemplate.yaml": (
        "rules:\n"
        "  - id: needs-missing\n"
        "    trigger:\n"
        "      birthday: {}\n"
        "    action:\n"
        "      email: {template: no-such-template}\n"  # 6:25
    ),
    "d-good.yaml": (
        "rules:\n"
        "  - id: birthday-note\n"  # 2:9 first definition
        "    trigger:\n"
        "      birthday: {lead_days: 0}\n"
        "    action:\n"
        "      email: {template: birthday}\n"
        "  - id: dupkey\n"
        "    priority: 1\n"  # 8
        "    trigger:\n"
        "      birthday: {}\n"
        "    priority: 2\n"  # 11:5 duplicate key
        "    action:\n"
        "      email: {template: birthday}\n"
        "  - id: badwhen\n"
        "    trigger:\n"
        "      birthday: {}\n"
        '    when: "contact.tier =="\n'  # 17:11
        "    action:\n"
        "      email: {template: birthday}\n"
        "  - id: first-purchase\n"
        "    trigger:\n"
        "      purchase_milestone: {count: [1]}\n"
        "    action:\n"
        "      email: {template: birthday}\n"
        "  - id: second-purchase\n"
        "    trigger:\n"
        "      purchase_milestone: {count: [2]}\n"
        "    action:\n"
        "      email: {template: birthday}\n"
    ),
    "e-dup.yaml": (
        "rules:\n"
        "  - id: birthday-note\n"  # 2:9 duplicate of d-good.yaml:2:9
        "    trigger:\n"
        "      birthday: {lead_days: 3}\n"
        "    action:\n"
        "      email: {template: birthday}\n"
    ),
}

BROKEN_TEMPLATE = (
    "{% block subject %}Hi{% endblock %}\n"
    "{% block text %}\n"
    "Hello {{ contact.first_name }\n"  # 3: unclosed expression
    "{% endblock %}\n"
)

# (location prefix, a fragment of the message) for every mistake above.
EXPECTED = [
    ("data/contacts.csv:3:41:", "2020-13-45"),
    ("data/contacts.csv:4:28:", "1985-02-30"),
    ("data/contacts.csv:5:36:", "Mars/Olympus_Mons"),
    ("data/purchases.csv:3:21:", "12;50"),
    ("rules/a-syntax.yaml:5:6:", "YAML"),
    ("rules/b-kinds.yaml:4:7:", "wedding"),
    ("rules/b-kinds.yaml:9:7:", "did you mean 'birthday'"),
    ("rules/c-notemplate.yaml:6:25:", "no-such-template"),
    ("rules/d-good.yaml:11:5:", "duplicate key 'priority'"),
    ("rules/d-good.yaml:17:11:", "when"),
    ("rules/e-dup.yaml:2:9:", "duplicate rule id 'birthday-note'"),
    ("templates/broken.j2:3:", "template syntax"),
]


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path / "broken",
        contacts=CONTACTS,
        purchases=PURCHASES,
        rules=RULES,
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "broken.j2": BROKEN_TEMPLATE},
    )


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r"^\S+:\d+(:\d+)?: ", line)]


def test_validate_reports_every_mistake_at_its_line_and_column(broken: Path) -> None:
    result = run_cli("validate", "--workspace", ".", cwd=broken)

    assert result.exit_code == 1, result.output
    lines = _problem_lines(result.stderr)
    for prefix, fragment in EXPECTED:
        matching = [line for line in lines if line.startswith(prefix + " ")]
        assert matching, f"no problem reported at {prefix}\n{result.stderr}"
        assert any(fragment in line for line in matching), (prefix, fragment, matching)
    # Nothing reported twice, nothing spurious: exactly one line per mistake.
    assert len(lines) == len(EXPECTED), "\n".join(lines)
    assert result.stdout == "", "problems go to stderr"


def test_validate_messages_are_specific(broken: Path) -> None:
    stderr = run_cli("validate", "--workspace", broken, cwd=broken).stderr
    unknown = next(line for line in stderr.splitlines() if "'wedding'" in line)
    assert "unknown trigger kind" in unknown
    for kind in ("birthday", "anniversary", "purchase_milestone", "news_mention"):
        assert kind in unknown, "an unknown kind lists the known ones"
    duplicate = next(line for line in stderr.splitlines() if "duplicate rule id" in line)
    assert "d-good.yaml:2" in duplicate, "the duplicate names where the first one is"
    duplicate_key = next(line for line in stderr.splitlines() if "duplicate key" in line)
    assert "line 8" in duplicate_key
    missing = next(line for line in stderr.splitlines() if "no-such-template" in line)
    assert "birthday" in missing, "a missing template lists the known ones"


def test_validate_paths_point_at_the_files_from_any_folder(broken: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("validate", "--workspace", broken, cwd=elsewhere)

    assert result.exit_code == 1
    lines = _problem_lines(result.stderr)
    assert len(lines) == len(EXPECTED)
    for line in lines:
        path = re.match(r"^(.+?):\d+", line)[1]
        assert (elsewhere / path).is_file(), f"{path} does not lead to the file"


def test_preview_of_a_broken_workspace_still_plans_the_sound_parts(broken: Path) -> None:
    result = run_cli(
        "preview",
        "--workspace",
        broken,
        "--format",
        "json",
        "--now",
        NOW,
        "--days",
        "30",
        cwd=broken,
    )

    assert result.exit_code == 1, "the workspace has errors"
    plan = json.loads(result.stdout)  # stdout is nothing but the JSON
    found = {(d["rule"], d["contact"]): d for d in plan}
    # The sound rule plans for the sound contacts, at its own (first) definition's time.
    assert found[("birthday-note", "c-ok")]["status"] == "planned"
    assert found[("birthday-note", "c-ok")]["send_at"] == "2026-06-10T09:00:00+01:00"
    assert found[("birthday-note", "c-ok2")]["send_at"] == "2026-06-13T09:00:00-04:00"
    assert found[("birthday-note", "c-ok")]["subject"] == "Happy birthday, Ada!"
    # The rule with a duplicate key is kept; the good purchase counts, the bad one does not.
    assert ("dupkey", "c-ok") in found
    assert found[("first-purchase", "c-ok")]["status"] == "planned"
    assert ("second-purchase", "c-ok") not in found
    # Broken rules plan nothing; a bad cell loses only itself: c-date's birthday still
    # counts, and c-tz's note goes in the workspace's time zone.
    rules = {d["rule"] for d in plan}
    assert not rules & {"broken", "wedding", "misspelt", "badwhen"}
    assert found[("birthday-note", "c-date")]["status"] == "planned"
    assert found[("birthday-note", "c-tz")]["send_at"].endswith("+00:00")
    assert ("birthday-note", "c-feb30") not in found, "its birthday is the bad cell"
    # The problems went to stderr.
    assert "rules/b-kinds.yaml:4:7:" in result.stderr
    assert "data/contacts.csv:3:41:" in result.stderr


def test_clean_workspace_validates(birthday_workspace: Path) -> None:
    result = run_cli("validate", "--workspace", birthday_workspace)

    assert result.exit_code == 0, result.output
    assert _problem_lines(result.stderr) == []
    assert "ok" in result.stderr
    assert "1 rule," in result.stderr
    assert "2 contacts" in result.stderr


def test_warnings_alone_do_not_fail_validation(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=[
            {
                "id": "c-1",
                "first_name": "Ada",
                "email": "ada@example.test",
                "timezone": "Europe/Reykjavik",
            }
        ],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    result = run_cli("validate", "--workspace", ".", cwd=ws)

    assert result.exit_code == 0, result.output
    assert "data/contacts.csv:2" in result.stderr
    assert "warning" in result.stderr and "Atlantic/Reykjavik" in result.stderr


def test_bad_config_value_is_located(tmp_path: Path) -> None:
    config = (
        "timezone: UTC\n"
        "locale: en\n"
        "policies:\n"
        "  max_per_contact: {count: 0, days: 7}\n"  # count must be positive
        "channels:\n"
        "  email: {provider: smtp, from: a@example.test}\n"
    )
    ws = make_workspace(
        tmp_path,
        config=config,
        contacts=[{"id": "c-1", "email": "a@example.test"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    result = run_cli("validate", "--workspace", ".", cwd=ws)

    assert result.exit_code == 1
    assert any(
        line.startswith("outreach.yaml:4:") and "count" in line
        for line in _problem_lines(result.stderr)
    ), result.stderr


def test_config_typo_gets_a_suggestion_at_its_line(tmp_path: Path) -> None:
    config = (
        "timezone: UTC\n"  # 1
        "locale: en\n"  # 2
        "polices:\n"  # 3: misspelt `policies`
        "  quiet_hours: {start: '20:00', end: '08:00'}\n"
        "channels:\n"
        "  email: {provider: smtp, from: a@example.test}\n"
    )
    ws = make_workspace(
        tmp_path,
        config=config,
        contacts=[{"id": "c-1", "email": "a@example.test"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    result = run_cli("validate", "--workspace", ".", cwd=ws)

    assert result.exit_code == 1
    (line,) = _problem_lines(result.stderr)
    assert line.startswith("outreach.yaml:3:1: ")
    assert "did you mean 'policies'" in line


def test_unreadable_config_is_exit_1_with_its_location(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        config="timezone: UTC\nchannels: {email: {provider: smtp\n",
        contacts=[{"id": "c-1"}],
    )
    for command in (("validate",), ("preview", "--now", NOW), ("explain", "c-1", "--now", NOW)):
        result = run_cli(*command, "--workspace", ".", cwd=ws)
        assert result.exit_code == 1, command
        assert "outreach.yaml:3:" in result.stderr, result.stderr
        assert "Traceback" not in result.output


def test_many_problems_are_all_listed_by_validate_but_summarised_by_preview(
    tmp_path: Path,
) -> None:
    rows = "".join(f"c-{i},{i:02d}-40\n" for i in range(1, 31))  # 30 bad birthdays
    ws = make_workspace(
        tmp_path,
        contacts="id,birthday\nc-0,06-10\n" + rows,
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    validate = run_cli("validate", "--workspace", ".", cwd=ws)
    assert validate.exit_code == 1
    lines = _problem_lines(validate.stderr)
    assert len(lines) == 31, "30 bad cells, and what the dry run finds"
    assert "data/contacts.csv:32:" in validate.stderr
    assert "will fail: the contact has no email address" in lines[-1] and "c-0" in lines[-1]

    preview = run_cli("preview", "--workspace", ".", "--now", NOW, "--format", "json", cwd=ws)
    assert preview.exit_code == 1
    assert 0 < len(_problem_lines(preview.stderr)) < 30
    assert "outreach validate" in preview.stderr, "preview says where to see them all"
    assert [d["contact"] for d in json.loads(preview.stdout)] == ["c-0"]


# The dry run: what sending would meet ------------------------------------------------------

DRY_RULES = """\
rules:
  - id: note
    trigger: {birthday: {}}
    action: {email: {template: note}}
  - id: scored
    trigger: {birthday: {}}
    when: "contact.score <= 6"
    action: {email: {template: plain}}
  - id: renewal
    trigger: {date: {field: renewal, offset_days: -30}}
    action: {email: {template: renewal}}
"""
NOTE = (
    "{% block subject %}Hi{% endblock %}{% block text %}Dear {{ contact.first_name }},\n"
    "greetings from {{ company.name }}.{% endblock %}"  # line 2: no company for some
)
RENEWAL = "{% block subject %}Renew{% endblock %}{% block text %}{{ occasion.nope }}{% endblock %}"
PLAIN = "{% block subject %}Hi{% endblock %}{% block text %}Hi{% endblock %}"


def test_validate_tries_every_rule_on_the_real_contacts(tmp_path: Path) -> None:
    people = [
        {"id": f"c-{i}", "first_name": f"P{i}", "email": f"p{i}@example.test",
         "birthday": "1980-06-20", "score": "3", "renewal": "2027-03-01",
         "company_id": "acme" if i < 2 else ""}
        for i in range(5)
    ]  # fmt: skip
    people[4]["renewal"] = "2027-02-30"  # a bad cell in a column a trigger reads
    ws = make_workspace(
        tmp_path / "ws",
        contacts=people,
        companies=[{"id": "acme", "name": "Acme"}],
        rules={"r.yaml": DRY_RULES},
        templates={"note.j2": NOTE, "renewal.j2": RENEWAL, "plain.j2": PLAIN},
    )

    result = run_cli("validate", "--workspace", ws, "--now", NOW, cwd=ws)

    assert result.exit_code == 1
    lines = _problem_lines(result.stderr)
    note = [line for line in lines if "rule 'note'" in line]
    assert note == [
        "templates/note.j2:2: rule 'note' will fail: undefined: 'None' has no attribute 'name'; "
        "guard it with {% if ... %} or |default (3 contacts: c-2, c-3, c-4)"
    ], "once, at the template's line, with how many it hits"
    (scored,) = [line for line in lines if "rule 'scored'" in line]
    assert scored.startswith("rules/r.yaml:7:11: ") and "(5 contacts:" in scored
    (renewal,) = [line for line in lines if "rule 'renewal'" in line]
    assert renewal.startswith("templates/renewal.j2:1: ") and "next occasions tried" in renewal
    assert "data/contacts.csv:6:" in result.stderr and "2027-02-30" in result.stderr
    quick = run_cli("validate", "--workspace", ws, "--days", "0", cwd=ws)
    assert "will fail" not in quick.stderr, "--days 0 checks only the files"
    assert quick.exit_code == 1, "the bad cell is still an error"


def test_a_sound_workspace_passes_the_dry_run(birthday_workspace: Path) -> None:
    result = run_cli("validate", "--workspace", birthday_workspace, "--now", NOW)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("ok:")


def test_one_failure_many_contacts_is_reported_once(tmp_path: Path) -> None:
    people = [
        {"id": f"c-{i}", "email": f"p{i}@example.test.", "birthday": "1980-06-20"} for i in range(6)
    ]
    ws = make_workspace(
        tmp_path / "ws",
        contacts=people,
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    lines = _problem_lines(run_cli("validate", "--workspace", ws, "--now", NOW, cwd=ws).stderr)
    (failure,) = [line for line in lines if "will fail" in line]
    assert "(6 contacts: c-0, c-1, c-2, c-3, c-4 and 1 more)" in failure
    assert len([line for line in lines if line.startswith("data/contacts.csv:")]) == 6


@pytest.mark.parametrize(
    ("config", "setting", "says"),
    [
        ({"channels": {"tasks": {"provider": "file", "path": "data/contacts.csv"}}},
         "channels.tasks.path", "which outreach reads"),
        ({"channels": {"gifts": {"provider": "file", "path": "rules/gifts.jsonl"}}},
         "channels.gifts.path", "which outreach reads"),
        ({"channels": {"gifts": {"provider": "file", "path": "out/tasks.jsonl"}}},
         "channels.tasks.path", "also channels.gifts.path"),
        ({"store": "sqlite:///data/purchases.csv"}, "store", "which outreach reads"),
        ({"channels": {"gifts": {"provider": "webhook", "url": "http://[::1]/", "path": None}}},
         "channels.gifts.url", "a loopback address"),
        ({"channels": {"email": {"provider": "smtp", "host": "", "from": "a@example.test"}}},
         "channels.email", "at least 1 character"),
        ({"locale": "zz-ZZ"}, "locale", "not a known locale"),
    ],
)  # fmt: skip
def test_validate_refuses_settings_that_would_fail_or_do_harm(
    tmp_path: Path, config: dict, setting: str, says: str
) -> None:
    ws = make_workspace(tmp_path / "ws", config=config, rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    result = run_cli("validate", "--workspace", ws, "--days", "0", cwd=ws)
    assert result.exit_code == 1
    (line,) = [line for line in _problem_lines(result.stderr) if says in line]
    assert line.startswith("outreach.yaml:") and setting in line, line


def test_validate_refuses_a_webhook_plainly_on_this_machine(tmp_path: Path) -> None:
    rule = (
        "rules:\n  - id: hook\n    trigger: {birthday: {}}\n"
        "    action: {webhook: {url: 'http://localhost:8080/x', template: body}}\n"
    )
    ws = make_workspace(tmp_path / "ws", rules={"hooks.yaml": rule},
                        templates={"body.j2": "{% block text %}{}{% endblock %}"})  # fmt: skip
    lines = _problem_lines(run_cli("validate", "--workspace", ws, "--days", "0", cwd=ws).stderr)
    assert any(line.startswith("rules/hooks.yaml:4:") and "this machine" in line for line in lines)


def test_validate_warns_of_a_secret_not_set_where_it_runs(tmp_path: Path) -> None:
    email = {"provider": "sendgrid", "api_key_env": "OUTREACH_TEST_KEY", "from": "a@example.test",
             "host": "https://api.sendgrid.com", "port": None}  # fmt: skip
    ws = make_workspace(tmp_path / "ws", config={"channels": {"email": email}},
                        rules={"notes.yaml": BIRTHDAY_RULE},
                        templates={"birthday.j2": BIRTHDAY_TEMPLATE})  # fmt: skip
    unset = run_cli("validate", "--workspace", ws, "--days", "0", env={"OUTREACH_TEST_KEY": None})
    assert unset.exit_code == 0 and "OUTREACH_TEST_KEY is not set here" in unset.stderr
    set_ = run_cli("validate", "--workspace", ws, "--days", "0", env={"OUTREACH_TEST_KEY": "k" * 9})
    assert "OUTREACH_TEST_KEY" not in set_.stderr


BIRTHDAY_CONTACT = {"id": "c-1", "first_name": "Ada", "email": "a@x.test", "birthday": "1985-06-10"}
LUCKY_TEMPLATE = (
    "{% block subject %}Hi{% endblock %}\n{% block text %}{{ [1, 2]|random }}{% endblock %}"
)


def test_chance_in_a_rule_or_a_template_is_located(tmp_path: Path) -> None:
    """`when: "[true, false]|random"` would flip between two identical previews, and let
    everyone through in the end: validate refuses it at its line; preview leaves that rule out
    and plans the template's notes as errors, never as a coin toss."""
    rule = BIRTHDAY_RULE.replace("    schedule:", '    when: "[true, false]|random"\n    schedule:')
    lucky = BIRTHDAY_RULE.replace("birthday-note", "lucky-note").replace(
        "template: birthday", "template: lucky"
    )
    workspace = make_workspace(
        tmp_path / "ws",
        contacts=[BIRTHDAY_CONTACT],
        rules={"notes.yaml": rule, "lucky.yaml": lucky},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE, "lucky.j2": LUCKY_TEMPLATE},
    )
    result = run_cli("validate", "--workspace", workspace)
    assert result.exit_code == 1
    assert re.search(r"rules/notes\.yaml:\d+:\d+: .*'random' is not available", result.output)
    assert re.search(r"templates/lucky\.j2:2: .*'random' is not available", result.output)
    previews = {
        run_cli("preview", "--workspace", workspace, "--now", NOW, "--format", "json").stdout
        for _ in range(3)
    }
    assert len(previews) == 1
    rows = json.loads(previews.pop())
    assert [(row["rule"], row["status"]) for row in rows] == [("lucky-note", "error")]
