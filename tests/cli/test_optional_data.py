"""Only contacts are required: a data kind outreach.yaml does not name, and whose usual file
is absent, is empty; `validate` names the rules that need it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, run_cli

NOW = "2026-06-01T08:00:00+00:00"

BIRTHDAY_TASK = BIRTHDAY_RULE.replace(
    "email: {template: birthday}", "task: {template: birthday, assignee: am@example.test}"
)

MILESTONE_RULE = """\
rules:
  - id: tenth-order
    trigger:
      purchase_milestone: {count: [10]}
    action:
      email: {template: birthday}
  - id: in-the-news
    trigger:
      news_mention: {}
    action:
      task: {template: birthday}
"""


def contacts_only(root: Path, rules: dict[str, str] | None = None) -> Path:
    """A workspace whose outreach.yaml names contacts and nothing else."""
    config = (
        "timezone: UTC\nstore: sqlite:///outreach.db\n"
        "data: {contacts: people.csv}\n"
        "channels:\n"
        '  email: {provider: smtp, host: localhost, from: "Co <hello@example.test>"}\n'
        "  tasks: {provider: file, path: out/tasks.jsonl}\n"
    )
    root.mkdir(parents=True)
    (root / "outreach.yaml").write_text(config, encoding="utf-8")
    (root / "people.csv").write_text(
        "id,first_name,email,birthday\nc-1,Ada,ada@example.test,1985-06-03\n", encoding="utf-8"
    )
    for folder, files in (("rules", rules or {"notes.yaml": BIRTHDAY_RULE}),
                          ("templates", {"birthday.j2": BIRTHDAY_TEMPLATE})):  # fmt: skip
        (root / folder).mkdir()
        for name, text in files.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "command",
    [
        ("preview", "--days", "7", "--now", NOW, "--format", "json"),
        ("explain", "c-1", "--now", NOW),
        ("validate",),
        ("mentions", "--text", "story.txt"),
        ("status",),
    ],
)
def test_a_workspace_with_contacts_only_works(tmp_path: Path, command: tuple[str, ...]) -> None:
    workspace = contacts_only(tmp_path / "ws")
    (workspace / "story.txt").write_text("Delta Logistics opens a warehouse.", encoding="utf-8")
    result = run_cli(*command, "--workspace", workspace, cwd=workspace)
    assert result.exit_code == 0, result.output
    assert "not found" not in result.output


def test_a_contacts_only_workspace_plans_and_runs(tmp_path: Path) -> None:
    workspace = contacts_only(tmp_path / "ws", {"notes.yaml": BIRTHDAY_TASK})
    preview = run_cli("preview", "--workspace", workspace, "--days", "7", "--now", NOW,
                      "--format", "json")  # fmt: skip
    assert [row["rule"] for row in json.loads(preview.stdout)] == ["birthday-note"]
    sent = run_cli("run", "--workspace", workspace, "--now", "2026-06-03T10:00:00+00:00")
    assert sent.exit_code == 0, sent.output
    assert "Happy birthday, Ada!" in (workspace / "out/tasks.jsonl").read_text(encoding="utf-8")


def test_validate_names_the_rules_that_need_data_the_workspace_has_not(tmp_path: Path) -> None:
    workspace = contacts_only(tmp_path / "ws", {"notes.yaml": MILESTONE_RULE})
    result = run_cli("validate", "--workspace", workspace)
    assert result.exit_code == 0, result.output  # warnings: the rules are sound
    assert "rule 'tenth-order' needs purchases" in result.output
    assert "set data.purchases" in result.output
    assert "rule 'in-the-news' needs feeds" in result.output
    assert "rules/notes.yaml:4" in result.output  # at the trigger


def test_the_usual_file_is_read_when_outreach_yaml_does_not_name_it(tmp_path: Path) -> None:
    """`data/suppressions.csv` beside a config that does not name it still suppresses: when
    in doubt, do not write."""
    workspace = contacts_only(tmp_path / "ws")
    (workspace / "data").mkdir()
    (workspace / "data/suppressions.csv").write_text("email\nada@example.test\n", encoding="utf-8")
    preview = run_cli("preview", "--workspace", workspace, "--days", "7", "--now", NOW,
                      "--format", "json")  # fmt: skip
    assert [row["status"] for row in json.loads(preview.stdout)] == ["suppressed"]


def test_a_named_file_that_is_missing_is_still_an_error(tmp_path: Path) -> None:
    workspace = make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "first_name": "Ada", "email": "ada@example.test"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    (workspace / "data/purchases.csv").unlink()
    result = run_cli("validate", "--workspace", workspace)
    assert result.exit_code == 1
    assert "purchases file not found (data.purchases in outreach.yaml)" in result.output
