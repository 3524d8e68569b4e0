"""Load a workspace: config, data, rules and templates, collecting every problem on the way.

Nothing here stops at the first mistake: a bad row, rule or template is reported and left
out, and everything sound is kept, so `preview` can still plan it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:  # spaCy loads only when news is looked at
    from outreach.adapters.mentions import MentionFinder

from outreach.adapters.feeds.sources import load_feed_sources
from outreach.adapters.sources.contacts import check_references, load_contacts
from outreach.adapters.sources.data import load_companies, load_purchases, load_suppressions
from outreach.adapters.sources.yamlfile import YamlDocument, load_yaml_file
from outreach.core.config import Config
from outreach.core.diagnostics import validation_problems
from outreach.core.model import Company, Dataset
from outreach.core.planning import Engine
from outreach.core.problems import Location, Problem, problem, warning
from outreach.core.rendering import Condition, TemplateFile, Templates, parse_template_filename
from outreach.core.rules import ACTION_CHANNELS, Rule, RuleFile
from outreach.core.timing import zone
from outreach.errors import WorkspaceError

CONFIG_FILE = "outreach.yaml"
MAX_TEMPLATE_BYTES = 512_000


@dataclass(frozen=True)
class RulePlace:
    """Where a rule and its parts stand in its file, for messages about it."""

    rule: Location
    trigger: Location
    when: Location
    action: Location
    flawed: bool = False  # its file reports errors about it (a missing template...)


@dataclass
class Workspace:
    root: Path
    config: Config
    engine: Engine
    data: Dataset
    problems: list[Problem] = field(default_factory=list)
    finder: MentionFinder | None = None  # built on first use, by services.news
    unsafe_to_send: str | None = None  # why nothing may be sent now (see _unsafe_to_send)
    rule_places: dict[str, RulePlace] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def authoring_errors(self) -> list[Problem]:
        """Errors in what people write by hand: outreach.yaml, rules and templates (not
        data rows). A daemon keeps its last good workspace while there are any."""
        written = [self.root / CONFIG_FILE, self.root / "rules", self.root / "templates"]
        places = {shown(path) for path in written}
        return [
            p
            for p in self.errors
            if p.location.path in places
            or any(p.location.path.startswith(place + os.sep) for place in places)
        ]

    @property
    def watches_news(self) -> bool:
        return any(r.enabled and r.trigger.kind == "news_mention" for r in self.engine.rules)


def find_root(given: str | None) -> Path:
    root = Path(given or os.environ.get("OUTREACH_WORKSPACE") or ".").expanduser()
    if not (root / CONFIG_FILE).is_file():
        raise WorkspaceError(
            f"no {CONFIG_FILE} in {root}; pass --workspace DIR, set OUTREACH_WORKSPACE, "
            "or create one with `outreach init DIR`"
        )
    return root


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_workspace(root: Path) -> Workspace:
    problems: list[Problem] = []
    config = load_config(root, problems)
    templates = load_templates(root, config, problems)
    places: dict[str, RulePlace] = {}
    rules, conditions = load_rules(root, config, templates, problems, places)
    with long_lived():  # after the rules: the date columns they read are checked on loading
        data = load_data(root, config, problems, date_columns(rules))
    engine = Engine(config, tuple(rules), templates, conditions)
    problems += _unknown_date_columns(rules, data, places, shown(root / config.data.contacts))
    problems.sort(key=reading_order)
    unsafe = _unsafe_to_send(root, config, data, problems)
    return Workspace(
        root, config, engine, data, problems, unsafe_to_send=unsafe, rule_places=places
    )


def _unsafe_to_send(
    root: Path, config: Config, data: Dataset, problems: list[Problem]
) -> str | None:
    """Why nothing may be sent now, or None. Sending fails closed: with outreach.yaml broken,
    the suppression list unreadable or the contacts file unusable, an opt-out could be
    missed; nothing goes until they are fixed (planning still shows what would)."""
    sources = {shown(root / CONFIG_FILE): "outreach.yaml has errors"}
    if config.data.suppressions:
        sources[shown(root / config.data.suppressions)] = "the suppression list has errors"
    contacts = shown(root / config.data.contacts)
    for found in problems:
        reason = sources.get(found.location.path)
        if not reason and found.location.path == contacts and not data.contacts:
            reason = "the contacts file cannot be used"
        if found.is_error and reason:
            return f"{reason} ({found}); nothing is sent until it is fixed"
    return None


@contextmanager
def long_lived() -> Iterator[None]:
    """Load millions of objects that live as long as the process without the cyclic GC
    rescanning them again and again (there are no cycles among them to find): pause it while
    loading, then freeze what was loaded out of its reach."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def reading_order(found: Problem) -> tuple[str, int, int]:
    where = found.location
    return where.path, where.line or 0, where.col or 0


def load_config(root: Path, problems: list[Problem]) -> Config:
    document = load_yaml_file(root / CONFIG_FILE, shown(root / CONFIG_FILE))
    problems += document.problems
    if document.problems and document.data is None:
        raise WorkspaceError("; ".join(str(p) for p in document.problems))
    data = document.data if isinstance(document.data, dict) else {}
    config = _validated_config(document, data, problems)
    if config.mentions.ner_model and not _pipeline_installed(config.mentions.ner_model, root):
        where = document.locate(("mentions", "ner_model"), False)
        problems.append(
            warning(
                where.path,
                where.line,
                where.col,
                f"spaCy pipeline '{config.mentions.ner_model}' is not installed; "
                "news mentions are found without it",
            )
        )
    if zone(config.timezone).key != config.timezone:
        where = document.locate(("timezone",), False)
        problems.append(
            warning(
                where.path,
                where.line,
                where.col,
                f"timezone '{config.timezone}' is not an IANA name; using "
                f"{zone(config.timezone).key}",
            )
        )
    return config


def _pipeline_installed(name: str, root: Path) -> bool:
    """Whether a trained spaCy pipeline can be loaded: a package, or a folder (checked
    without loading it: loading is slow and only news needs it)."""
    if (root / name / "config.cfg").is_file():
        return True
    from spacy.util import is_package  # spaCy is imported only when a pipeline is configured

    return bool(is_package(name))


def _validated_config(
    document: YamlDocument, data: dict[str, Any], problems: list[Problem]
) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, document.locate, Config)
        broken = [tuple(err["loc"][:2]) for err in exc.errors() if err["loc"]]
    # Keep what is sound: drop the broken entries (a bad channels.email leaves channels.gifts
    # in use), else the broken top-level sections, and use defaults for them.
    for pruned in (_without(data, broken), _without(data, [path[:1] for path in broken])):
        try:
            return Config.model_validate(pruned)
        except ValidationError:
            continue
    return Config()


def _without(data: dict[str, Any], paths: list[tuple[Any, ...]]) -> dict[str, Any]:
    pruned = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for path in paths:
        section = pruned.get(path[0])
        if len(path) == 2 and isinstance(section, dict):
            section.pop(path[1], None)
        else:
            pruned.pop(path[0], None)
    return pruned


def _unknown_date_columns(
    rules: list[Rule], data: Dataset, places: dict[str, RulePlace], contacts_file: str
) -> list[Problem]:
    """A rule reading a date column the contacts file does not have never fires: say so."""
    some = next(iter(data.contacts.values()), None)
    if some is None:
        return []
    found = []
    for rule in rules:
        column = date_columns([rule])
        if column and not column <= set(some.fields):
            where = places[rule.id].trigger
            message = (
                f"rule '{rule.id}' reads the date column '{column.pop()}', which "
                f"{contacts_file} does not have; it never fires"
            )
            found.append(warning(where.path, where.line, where.col, message))
    return found


def date_columns(rules: list[Rule]) -> set[str]:
    """The contact columns the rules read as dates."""
    return {
        rule.trigger.params.field
        for rule in rules
        if rule.trigger.kind in ("anniversary", "date") and rule.trigger.params.field
    }


def load_data(
    root: Path, config: Config, problems: list[Problem], dates: set[str] | None = None
) -> Dataset:
    files = config.data
    contacts_path = root / files.contacts
    if not contacts_path.is_file():
        problems.append(
            problem(
                shown(contacts_path),
                None,
                None,
                "contacts file not found (data.contacts in outreach.yaml)",
            )
        )
        return Dataset.build({})
    people = load_contacts(contacts_path, shown(contacts_path), sorted(dates or ()))
    contacts = people.contacts
    problems += people.problems
    companies: dict[str, Company] = {}
    if files.companies and (path := _optional(root, files.companies, "companies", problems)):
        companies, found = load_companies(path, shown(path))
        problems += found
    problems += check_references(contacts, companies, shown(contacts_path))
    purchases: list[Any] = []
    if files.purchases and (path := _optional(root, files.purchases, "purchases", problems)):
        purchases, found = load_purchases(path, shown(path), contacts)
        problems += found
    suppressed: set[str] = set()
    if files.suppressions and (
        path := _optional(root, files.suppressions, "suppressions", problems)
    ):
        suppressed, found = load_suppressions(path, shown(path))
        problems += found
    _check_owners(config, contacts.values(), shown(contacts_path), problems)
    if files.feeds and (feeds_path := root / files.feeds).is_file():
        problems += load_feed_sources(feeds_path, shown(feeds_path), root)[1]
    return Dataset.build(
        contacts, companies, purchases, suppressed, opted_out_addresses=people.do_not_write
    )


def _optional(root: Path, relative: str, what: str, problems: list[Problem]) -> Path | None:
    path = root / relative
    if path.is_file():
        return path
    problems.append(
        problem(shown(path), None, None, f"{what} file not found (data.{what} in outreach.yaml)")
    )
    return None


def _check_owners(config: Config, contacts: Any, path: str, problems: list[Problem]) -> None:
    if not config.owners:
        return
    known = {email.lower() for email in config.owners}
    reported: set[str] = set()
    for contact in contacts:
        owner = contact.owner
        if owner and owner.lower() not in known and owner not in reported:
            reported.add(owner)
            problems.append(
                warning(
                    path,
                    contact.line,
                    None,
                    f"owner '{owner}' has no entry "
                    "under owners: in outreach.yaml; their name is guessed",
                )
            )


def load_templates(root: Path, config: Config, problems: list[Problem]) -> Templates:
    folder = root / "templates"
    files = []
    for path in sorted(folder.rglob("*.j2")) if folder.is_dir() else []:
        filename = path.relative_to(folder).as_posix()
        try:
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                raise ValueError(f"larger than {MAX_TEMPLATE_BYTES} bytes")
            source = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            problems.append(problem(shown(path), None, None, f"cannot use template: {exc}"))
            continue
        name, locale = parse_template_filename(filename)
        files.append(TemplateFile(name, locale, filename, shown(path), source))
    templates = Templates(files, config.locale)
    problems += templates.check()
    return templates


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
    paths = sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]) if folder.is_dir() else []
    if not paths:
        problems.append(warning(shown(folder), None, None, "no rule files (rules/*.yaml)"))
    rules: list[Rule] = []
    conditions: dict[str, Condition] = {}
    first_seen: dict[str, str] = {}
    for path in paths:
        document = load_yaml_file(path, shown(path), max_bytes=1_000_000)
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
        problems.append(
            problem(
                where.path,
                where.line,
                where.col,
                f"rules[{index}].when: does not compile: {message}; this rule is skipped",
            )
        )
        return None


def _cross_checks(
    rule: Rule, config: Config, templates: Templates, document: YamlDocument, index: int
) -> list[Problem]:
    found = []
    kind = rule.action.kind
    channel = ACTION_CHANNELS[kind]
    if not config.channel_configured(channel):
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
