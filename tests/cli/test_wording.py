"""What outreach says: the README and `--help` agree, and a mistake gets one message that
says what to write instead, not a cascade."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, run_cli

from outreach.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"
# Options of other tools that the README shows (pip, ruff, pytest).
NOT_OURS = {"--exclude-editable", "--check", "--strict"}


def commands(
    group: click.Group = cli, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        found[(*path, name)] = command
        if isinstance(command, click.Group):
            found |= commands(command, (*path, name))
    return found


def options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_option_the_readme_names_exists() -> None:
    everywhere = set().union(*(options(c) for c in commands().values()))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", README.read_text(encoding="utf-8")))
    assert named - NOT_OURS - everywhere == set()


def test_every_option_the_readme_gives_a_command_is_that_commands() -> None:
    """`outreach preview --days 30`: `--days` is an option of `preview` itself."""
    known = commands()
    text = README.read_text(encoding="utf-8")
    wrong = []
    for line in re.findall(r"outreach ([a-z][^`\n|#]*)", text):
        words = line.split()
        path: tuple[str, ...] = ()
        while words and (*path, words[0]) in known:
            path = (*path, words.pop(0))
        if not path:
            continue
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", " ".join(words)):
            if option not in options(known[path]):
                wrong.append(f"outreach {' '.join(path)} {option}")
    assert wrong == []


def test_every_command_the_readme_lists_exists() -> None:
    known = commands()
    listed = re.findall(r"^\| `outreach ([a-z-]+)(?: ([a-z-]+))?", README.read_text("utf-8"), re.M)
    assert listed
    for name, sub in listed:
        assert (name,) in known, name
        if isinstance(known[(name,)], click.Group):
            assert (name, sub) in known, f"{name} {sub}"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(
        tmp_path / "ws",
        contacts=[{"id": "c-1", "first_name": "Ada", "email": "a@example.test"}],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )


def test_a_misspelt_provider_is_one_message_with_the_spelling_it_meant(workspace: Path) -> None:
    config = workspace / "outreach.yaml"
    config.write_text(config.read_text().replace("provider: smtp", "provider: smpt"))
    result = run_cli("validate", "--workspace", workspace)
    assert result.exit_code == 1
    assert "channels.email: unknown provider 'smpt'; did you mean 'smtp'?" in result.stderr
    assert "does not configure" not in result.stderr  # the rules' email is not 'missing'
    assert "Input tag" not in result.stderr
    assert "1 error," in result.stderr


@pytest.mark.parametrize(
    ("when", "instead"),
    [
        ("contact.tier = 'gold'", "=="),
        ("contact.tier === 'gold'", "=="),
        ("contact.tier <> 'gold'", "!="),
        ("contact.first_name && contact.email", "and"),
        ("contact.first_name || contact.email", "or"),
        ("!contact.first_name", "not"),
    ],
)
def test_a_habit_of_another_language_gets_what_to_write(
    workspace: Path, when: str, instead: str
) -> None:
    rules = workspace / "rules/notes.yaml"
    rules.write_text(
        BIRTHDAY_RULE.replace("    schedule:", f'    when: "{when}"\n    schedule:'),
        encoding="utf-8",
    )
    result = run_cli("validate", "--workspace", workspace)
    assert f"did you mean '{instead}'?" in result.stderr, result.stderr


def test_a_template_with_a_habit_of_another_language_gets_what_to_write(workspace: Path) -> None:
    template = workspace / "templates/birthday.j2"
    template.write_text(
        BIRTHDAY_TEMPLATE + "{% block html %}{% if contact.first_name = 'Ada' %}Hi{% endif %}"
        "{% endblock %}",
        encoding="utf-8",
    )
    result = run_cli("validate", "--workspace", workspace)
    assert "did you mean '=='?" in result.stderr, result.stderr


def test_counts_are_singular_for_one() -> None:
    from outreach.core.wording import counted, tallied

    assert [counted(n, "error") for n in (0, 1, 2, 1000)] == [
        "0 errors",
        "1 error",
        "2 errors",
        "1,000 errors",
    ]
    assert counted(1, "new entry", "new entries") == "1 new entry"
    assert tallied({"sent": 2, "dead": 1, "late": 0}) == ": 1 dead, 2 sent"
