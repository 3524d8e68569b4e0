"""Every command has help; `schema`, `init` and `--version` do what SPEC.md says."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from helpers import run_cli

from outreach import __version__
from outreach.adapters.sources.yamlfile import load_yaml_file
from outreach.cli import cli

REPO_ROOT = Path(__file__).parents[2]
TRIGGER_KINDS = {
    "birthday",
    "anniversary",
    "date",
    "purchase_milestone",
    "inactivity",
    "loyalty_stage",
    "news_mention",
}
ACTION_KINDS = {"email", "gift", "task", "webhook"}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(cli)


def test_the_spec_commands_exist() -> None:
    names = {path[0] for path in COMMANDS}
    assert {"validate", "preview", "explain", "schema", "init"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = run_cli(*path, "--help")

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert " ".join(path) in result.stdout
    command: Any = cli
    for name in path:
        command = command.commands[name]
    assert command.help or command.short_help, f"{' '.join(path)} has no description"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_leaf_command_that_reads_a_workspace_takes_workspace(path: tuple[str, ...]) -> None:
    command: Any = cli
    for name in path:
        command = command.commands[name]
    if isinstance(command, click.Group) or path[0] in ("schema", "init"):
        pytest.skip("no workspace needed")
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--workspace" in options


def test_top_level_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    for name in ("validate", "preview", "explain", "schema", "init"):
        assert name in result.stdout
    assert run_cli("-h").stdout == result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout
    assert re.search(r"\d+\.\d+\.\d+", result.stdout)


def test_unknown_command_is_a_usage_error() -> None:
    assert run_cli("frobnicate").exit_code == 2


# schema ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = run_cli("schema")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _kinds(union: dict[str, Any], root: dict[str, Any]) -> set[str]:
    members = union.get("oneOf") or union.get("anyOf") or []
    names = set()
    for member in members:
        properties = _resolve(member, root).get("properties", {})
        assert len(properties) == 1, "a kind wrapper has one key: the kind"
        names |= set(properties)
    return names


def test_schema_is_a_json_schema_of_rule_files(schema: dict[str, Any]) -> None:
    assert "json-schema.org" in schema["$schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["rules"]
    assert schema["properties"]["rules"]["type"] == "array"
    rule = _resolve(schema["properties"]["rules"]["items"], schema)
    assert set(rule["required"]) >= {"id", "trigger", "action"}
    assert _kinds(rule["properties"]["trigger"], schema) == TRIGGER_KINDS
    assert _kinds(rule["properties"]["action"], schema) == ACTION_KINDS
    text = json.dumps(schema)
    for kind in TRIGGER_KINDS:
        assert f'"{kind}"' in text


def test_config_schema() -> None:
    result = run_cli("schema", "--config")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert {"timezone", "locale", "data", "channels", "policies"} <= set(document["properties"])
    assert "outside the workspace" in document["properties"]["outside_workspace"]["description"]


def _demo_rule_files() -> list[Path]:
    return sorted((REPO_ROOT / "rules").glob("*.yaml"))


def _documents() -> list[tuple[str, Any]]:
    found = []
    for path in _demo_rule_files():
        document = load_yaml_file(path, path.name)
        assert not document.problems, document.problems
        found.append((path.name, document.data))
    return found


def test_demo_rules_exist() -> None:
    assert _demo_rule_files(), "the repository root is a demo workspace with rules/"


@pytest.mark.parametrize(
    ("name", "data"), _documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_schema_accepts_the_demo_rule_files(schema: dict[str, Any], name: str, data: Any) -> None:
    errors = _validate(data, schema)
    assert errors == [], f"{name}: {errors}"


@pytest.mark.parametrize(
    "bad",
    [
        {
            "rules": [
                {"id": "x", "trigger": {"wedding": {}}, "action": {"email": {"template": "t"}}}
            ]
        },
        {"rules": [{"id": "x", "trigger": {"birthday": {}}, "action": {"email": {}}}]},
        {
            "rules": [
                {
                    "id": "x",
                    "trigger": {"birthday": {"lead_dayz": 1}},
                    "action": {"email": {"template": "t"}},
                }
            ]
        },
        {"rules": [{"trigger": {"birthday": {}}, "action": {"email": {"template": "t"}}}]},
        {"rulez": []},
    ],
)
def test_schema_rejects_broken_rule_files(schema: dict[str, Any], bad: Any) -> None:
    assert _validate(bad, schema), "the schema (or the mini validator) accepts anything"


def _validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    try:
        import jsonschema  # not a dependency: use it when it happens to be installed
    except ImportError:
        return _mini_validate(instance, schema, schema, "$")
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def _mini_validate(instance: Any, node: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    """Enough of JSON Schema for pydantic's output: $ref, oneOf/anyOf/allOf, type, enum,
    const, properties, required, additionalProperties, items, pattern, bounds."""
    node = _resolve(node, root)
    errors: list[str] = []
    for sub in node.get("allOf", []):
        errors += _mini_validate(instance, sub, root, at)
    if "anyOf" in node and not any(
        not _mini_validate(instance, sub, root, at) for sub in node["anyOf"]
    ):
        errors.append(f"{at}: matches none of anyOf")
    if "oneOf" in node:
        passing = sum(not _mini_validate(instance, sub, root, at) for sub in node["oneOf"])
        if passing != 1:
            errors.append(f"{at}: matches {passing} of oneOf")
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        ok = any(
            isinstance(instance, _TYPES[t])
            and not (isinstance(instance, bool) and t in ("integer", "number"))
            for t in types
        )
        if not ok:
            return [*errors, f"{at}: not {types}"]
    if "enum" in node and instance not in node["enum"]:
        errors.append(f"{at}: {instance!r} not in {node['enum']}")
    if "const" in node and instance != node["const"]:
        errors.append(f"{at}: {instance!r} is not {node['const']!r}")
    if isinstance(instance, str):
        if "pattern" in node and not re.search(node["pattern"], instance):
            errors.append(f"{at}: {instance!r} does not match {node['pattern']}")
        if len(instance) < node.get("minLength", 0):
            errors.append(f"{at}: too short")
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if "minimum" in node and instance < node["minimum"]:
            errors.append(f"{at}: below minimum")
        if "maximum" in node and instance > node["maximum"]:
            errors.append(f"{at}: above maximum")
        if "exclusiveMinimum" in node and instance <= node["exclusiveMinimum"]:
            errors.append(f"{at}: not above exclusiveMinimum")
    if isinstance(instance, dict):
        properties = node.get("properties", {})
        for key in node.get("required", []):
            if key not in instance:
                errors.append(f"{at}: missing {key}")
        for key, value in instance.items():
            if key in properties:
                errors += _mini_validate(value, properties[key], root, f"{at}.{key}")
            elif node.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected {key}")
            elif isinstance(node.get("additionalProperties"), dict):
                errors += _mini_validate(value, node["additionalProperties"], root, f"{at}.{key}")
    if isinstance(instance, list):
        if "items" in node:
            for i, item in enumerate(instance):
                errors += _mini_validate(item, node["items"], root, f"{at}[{i}]")
        if len(instance) < node.get("minItems", 0):
            errors.append(f"{at}: too few items")
    return errors


# init ------------------------------------------------------------------------------------


def test_init_writes_a_workspace_that_validates_and_previews(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = run_cli("init", target)

    assert result.exit_code == 0, result.output
    assert (target / "outreach.yaml").is_file()
    assert list((target / "rules").glob("*.yaml"))
    assert list((target / "templates").glob("*.j2"))
    assert "outreach preview" in result.stderr, "init says what to do next"

    validate = run_cli("validate", "--workspace", target)
    assert validate.exit_code == 0, validate.stderr
    assert "warning" not in validate.stderr

    preview = run_cli(
        "preview",
        "--workspace",
        target,
        "--now",
        "2026-12-01T08:00:00+00:00",
        "--days",
        "365",
        "--format",
        "json",
    )
    assert preview.exit_code == 0, preview.stderr
    plan = json.loads(preview.stdout)
    assert plan, "the starter workspace plans something within a year"
    assert all(d["status"] != "error" for d in plan), [d["reason"] for d in plan]

    contact = plan[0]["contact"]
    explain = run_cli(
        "explain", contact, "--workspace", target, "--now", "2026-12-01T08:00:00+00:00"
    )
    assert explain.exit_code == 0, explain.stderr


@pytest.mark.parametrize(
    "now",
    [
        "2026-12-01T08:00:00+00:00",
        "2027-03-28T00:30:00+00:00",  # the UK springs forward
        "2027-08-15T23:59:00+00:00",
        "2027-12-31T23:30:00+00:00",
        "2028-02-29T12:00:00+00:00",
    ],
)
def test_every_starter_rule_fires_within_a_month_on_any_day(tmp_path: Path, now: str) -> None:
    target = tmp_path / "new"
    assert run_cli("init", target).exit_code == 0
    preview = run_cli(
        "preview", "--workspace", target, "--now", now, "--days", "30", "--format", "json"
    )
    assert preview.exit_code == 0, preview.stderr
    plan = json.loads(preview.stdout)
    rules = {rule["id"] for f in (target / "rules").glob("*.yaml")
             for rule in yaml.safe_load(f.read_text(encoding="utf-8"))["rules"]}  # fmt: skip
    assert {d["rule"] for d in plan if d["status"] == "planned"} == rules


def test_the_starter_writes_to_each_sample_contact_in_their_language(tmp_path: Path) -> None:
    """Every language the sample contacts use has its own layout and templates: no English
    sign-off under a note in another language."""
    target = tmp_path / "new"
    assert run_cli("init", target).exit_code == 0
    with (target / "data" / "contacts.csv").open(encoding="utf-8", newline="") as handle:
        languages = {row["locale"].split("-")[0] for row in csv.DictReader(handle)} - {"", "en"}
    assert languages, "the starter shows a contact in another language"
    names = {p.name.split(".")[0] for p in (target / "templates").glob("*.j2")}
    for language in languages:
        for name in names:
            assert (target / "templates" / f"{name}.{language}.j2").is_file(), (name, language)
    preview = run_cli(
        "preview", "--workspace", target, "--now", "2026-12-01T08:00:00+00:00", "--format", "json"
    )
    german = [d for d in json.loads(preview.stdout) if d["contact"] == "c-4"]
    assert german and all(
        "Viele Grüße" in d["text"] and "Best wishes" not in d["text"] for d in german
    )


def test_init_into_a_folder_that_exists_but_is_empty(tmp_path: Path) -> None:
    result = run_cli("init", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outreach.yaml").is_file()


def test_init_refuses_an_existing_workspace(tmp_path: Path) -> None:
    assert run_cli("init", tmp_path).exit_code == 0
    (tmp_path / "outreach.yaml").write_text("timezone: UTC\n# mine\n", encoding="utf-8")

    result = run_cli("init", tmp_path)

    assert result.exit_code == 1
    assert "--force" in result.stderr
    assert (tmp_path / "outreach.yaml").read_text(encoding="utf-8") == "timezone: UTC\n# mine\n"


def test_init_force_overwrites(tmp_path: Path) -> None:
    assert run_cli("init", tmp_path).exit_code == 0
    (tmp_path / "outreach.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    result = run_cli("init", tmp_path, "--force")
    assert result.exit_code == 0
    assert run_cli("validate", "--workspace", tmp_path).exit_code == 0


def test_init_needs_a_directory() -> None:
    assert run_cli("init").exit_code == 2


def test_init_refuses_when_any_file_it_would_write_exists(tmp_path: Path) -> None:
    """Not only outreach.yaml: a template or a data file of one's own is kept too."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/birthday.j2").write_text("mine", encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/contacts.csv").write_text("id\nme\n", encoding="utf-8")

    result = run_cli("init", tmp_path)

    assert result.exit_code == 1
    assert "--force" in result.stderr
    assert str(tmp_path / "templates/birthday.j2") in result.stderr
    assert str(tmp_path / "data/contacts.csv") in result.stderr
    assert (tmp_path / "templates/birthday.j2").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "outreach.yaml").exists(), "nothing is written"


@pytest.mark.parametrize("force", [False, True])
def test_init_never_writes_through_a_link(tmp_path: Path, force: bool) -> None:
    """A file linked elsewhere, a folder linked elsewhere, a dangling link: without --force
    they are taken paths; with it the links themselves are replaced, never written through."""
    target, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    (elsewhere / "rules").mkdir(parents=True)
    (elsewhere / "mine.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    target.mkdir()
    (target / "outreach.yaml").symlink_to(elsewhere / "mine.yaml")
    (target / "rules").symlink_to(elsewhere / "rules")
    (target / "data").symlink_to(elsewhere / "missing")

    result = run_cli("init", target, *(["--force"] if force else []))

    assert (elsewhere / "mine.yaml").read_text(encoding="utf-8") == "timezone: UTC\n"
    assert list((elsewhere / "rules").iterdir()) == []
    assert not (elsewhere / "missing").exists()
    if not force:
        assert result.exit_code == 1
        for name in ("outreach.yaml", "rules", "data"):
            assert str(target / name) in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    for name in ("outreach.yaml", "rules", "data"):
        assert not (target / name).is_symlink()
    assert run_cli("validate", "--workspace", target).exit_code == 0


def test_init_into_a_link_names_the_folder_to_use(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")

    result = run_cli("init", tmp_path / "link", "--force")

    assert result.exit_code == 1
    assert str(tmp_path / "real") in result.stderr
    assert list((tmp_path / "real").iterdir()) == []


def test_init_force_leaves_a_folder_where_a_file_goes(tmp_path: Path) -> None:
    (tmp_path / "outreach.yaml").mkdir()
    (tmp_path / "outreach.yaml/keep").write_text("mine", encoding="utf-8")

    result = run_cli("init", tmp_path, "--force")

    assert result.exit_code == 1
    assert "is a folder" in result.stderr
    assert (tmp_path / "outreach.yaml/keep").read_text(encoding="utf-8") == "mine"
