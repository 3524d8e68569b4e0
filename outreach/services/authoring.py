"""What people write by hand besides outreach.yaml: the templates and the rule files, each
problem located at its file:line:col; a rule or template that does not load is left out and
the rest is used."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from outreach.adapters.feeds.addresses import plainly_private
from outreach.adapters.sources.files import Boundary, Refused, read_text
from outreach.adapters.sources.yamlfile import YamlDocument, load_yaml_file
from outreach.core.config import Config
from outreach.core.diagnostics import validation_problems
from outreach.core.problems import Location, Problem, problem, warning
from outreach.core.rendering import (
    Condition,
    TemplateFile,
    Templates,
    parse_template_filename,
    syntax_hint,
)
from outreach.core.rules import ACTION_CHANNELS, Rule, RuleFile, WebhookAction
from outreach.services.paths import shown

MAX_RULES_BYTES = 1_000_000

MAX_TEMPLATE_BYTES = 512_000


@dataclass(frozen=True)
class RulePlace:
    """Where a rule and its parts stand in its file, for messages about it."""

    rule: Location
    trigger: Location
    when: Location
    action: Location
    flawed: bool = False  # its file reports errors about it (a missing template...)


def load_templates(root: Path, config: Config, problems: list[Problem]) -> Templates:
    folder = root / "templates"
    boundary = Boundary.of(root, config.outside_workspace)
    files = []
    for path in _files_in(folder, ("*.j2",), boundary, problems):
        filename = path.relative_to(folder).as_posix()
        try:
            source = read_text(boundary.confine(path), MAX_TEMPLATE_BYTES, "split it into parts")
        except (Refused, OSError, UnicodeDecodeError) as exc:
            reason = (exc.strerror or exc) if isinstance(exc, OSError) else exc
            problems.append(problem(shown(path), None, None, f"cannot use template: {reason}"))
            continue
        name, locale = parse_template_filename(filename)
        files.append(TemplateFile(name, locale, filename, shown(path), source))
    templates = Templates(files, config.locale)
    problems += templates.check()
    return templates


def _files_in(
    folder: Path, patterns: tuple[str, ...], boundary: Boundary, problems: list[Problem]
) -> list[Path]:
    """The files under `folder` matching `patterns`, as named there (each one is confined
    when it is read); none when the folder itself leads outside the workspace."""
    if not folder.is_dir():
        return []
    try:
        boundary.confine(folder)
    except Refused as exc:
        problems.append(problem(shown(folder), None, None, str(exc)))
        return []
    return sorted(path for pattern in patterns for path in folder.rglob(pattern))


def load_rules(
    root: Path,
    config: Config,
    templates: Templates,
    problems: list[Problem],
    places: dict[str, RulePlace] | None = None,
) -> tuple[list[Rule], dict[str, Condition]]:
    """The sound rules and their compiled `when:`s; `places` (when given) learns where each
    rule stands."""
    folder = root / "rules"
    boundary = Boundary.of(root, config.outside_workspace)
    paths = _files_in(folder, ("*.yaml", "*.yml"), boundary, problems)
    if not paths:
        problems.append(warning(shown(folder), None, None, "no rule files (rules/*.yaml)"))
    rules: list[Rule] = []
    conditions: dict[str, Condition] = {}
    first_seen: dict[str, str] = {}
    for path in paths:
        document = _rule_file(path, boundary)
        problems += document.problems
        for index, rule in _rules_of(document, problems):
            where = document.locate(("rules", index, "id"), False)
            if rule.id in first_seen:
                problems.append(
                    problem(
                        where.path,
                        where.line,
                        where.col,
                        f"duplicate rule id '{rule.id}' (first at "
                        f"{first_seen[rule.id]}); this rule is skipped",
                    )
                )
                continue
            first_seen[rule.id] = str(where)
            if places is not None:
                trigger, when, action = (
                    document.locate(("rules", index, part))
                    for part in ("trigger", "when", "action")
                )
                places[rule.id] = RulePlace(where, trigger, when, action)
            condition = _condition(rule, templates, document, index, problems)
            if rule.when is not None and condition is None:
                continue
            flaws = _cross_checks(rule, config, templates, document, index)
            problems += flaws
            if places is not None and any(p.is_error for p in flaws):
                places[rule.id] = replace(places[rule.id], flawed=True)
            rules.append(rule)
            if condition is not None:
                conditions[rule.id] = condition
    return rules, conditions


def _rule_file(path: Path, boundary: Boundary) -> YamlDocument:
    try:
        confined = boundary.confine(path)
    except Refused as exc:
        return YamlDocument(
            shown(path), None, problems=[problem(shown(path), None, None, str(exc))]
        )
    return load_yaml_file(confined, shown(path), max_bytes=MAX_RULES_BYTES)


def _rules_of(document: YamlDocument, problems: list[Problem]) -> list[tuple[int, Rule]]:
    data = document.data
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        where = document.locate((), False)
        problems.append(
            problem(
                where.path, where.line, where.col, "a rule file holds `rules:`, a list of rules"
            )
        )
        return []
    if extra := [k for k in data if k != "rules"]:
        where = document.locate((extra[0],), True)
        problems.append(
            problem(
                where.path,
                where.line,
                where.col,
                f"unknown key '{extra[0]}'; a rule file holds only `rules:`",
            )
        )
    valid = []
    for index, item in enumerate(data["rules"]):
        try:
            valid.append((index, Rule.model_validate(item)))
        except ValidationError as exc:
            problems += validation_problems(exc, document.locate, RuleFile, ("rules", index))
    return valid


def _condition(
    rule: Rule, templates: Templates, document: YamlDocument, index: int, problems: list[Problem]
) -> Condition | None:
    if rule.when is None:
        return None
    try:
        return templates.compile_condition(rule.when)
    except Exception as exc:  # jinja's syntax errors and the sandbox's refusals alike
        where = document.locate(("rules", index, "when"), False)
        message = (getattr(exc, "message", None) or str(exc)).rstrip(".")
        message += syntax_hint(message, rule.when)
        problems.append(
            problem(
                where.path,
                where.line,
                where.col,
                f"rules[{index}].when: does not compile (this rule is skipped): {message}",
            )
        )
        return None


def _cross_checks(
    rule: Rule, config: Config, templates: Templates, document: YamlDocument, index: int
) -> list[Problem]:
    found = []
    kind = rule.action.kind
    channel = ACTION_CHANNELS[kind]
    if not config.channel_configured(channel) and not config.unreadable(f"channels.{channel}"):
        where = document.locate(("rules", index, "action", kind), True)
        found.append(
            problem(
                where.path,
                where.line,
                where.col,
                f"rules[{index}].action: {kind} goes through channels.{channel}, "
                f"which outreach.yaml does not configure",
            )
        )
    params = rule.action.params
    private = isinstance(params, WebhookAction) and not config.network.allow_private
    if private and (why := plainly_private(params.url)):
        where = document.locate(("rules", index, "action", kind, "url"), False)
        message = f"rules[{index}].action.webhook.url: {why}"
        found.append(problem(where.path, where.line, where.col, message))
    field_name = "card" if kind == "gift" else "template"
    name = getattr(params, field_name)
    if name is None:
        return found
    where = document.locate(("rules", index, "action", kind, field_name), False)
    if name not in templates.variants:
        known = ", ".join(sorted(n for n in templates.variants if not n.startswith("_")))
        found.append(
            problem(
                where.path,
                where.line,
                where.col,
                f"rules[{index}].action.{kind}.{field_name}: no template '{name}' "
                f"(templates/{name}.j2 or a locale variant); known: {known}",
            )
        )
        return found
    needed = {
        "email": ("subject", "text"),
        "task": ("subject",),
        "gift": ("text",),
        "webhook": ("text",),
    }[kind]
    for filename in templates.variants[name].values():
        blocks = templates.blocks_of(filename)
        missing = [b for b in needed if blocks is not None and b not in blocks]
        if missing:
            found.append(
                problem(
                    templates.files[filename].path,
                    1,
                    None,
                    f"no block {', '.join(missing)} (rule '{rule.id}' sends it as "
                    f"{kind}); add {{% block {missing[0]} %}}...{{% endblock %}}",
                )
            )
    return found
