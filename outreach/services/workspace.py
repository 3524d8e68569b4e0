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
from outreach.adapters.sources.files import Boundary, Refused, read_text
from outreach.adapters.sources.yamlfile import YamlDocument, load_yaml_file
from outreach.adapters.store import store_file
from outreach.core.config import Config, FileChannel
from outreach.core.diagnostics import validation_problems
from outreach.core.model import Company, Dataset
from outreach.core.planning import Engine
from outreach.core.problems import Location, Problem, problem, warning
from outreach.core.rendering import Condition, TemplateFile, Templates, parse_template_filename
from outreach.core.rules import ACTION_CHANNELS, Rule, RuleFile
from outreach.core.timing import zone
from outreach.errors import WorkspaceError

CONFIG_FILE = "outreach.yaml"
MAX_CONFIG_BYTES = 2_000_000
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
    def boundary(self) -> Boundary:
        return Boundary.of(self.root, self.config.outside_workspace)

    @property
    def watches_news(self) -> bool:
        return any(r.enabled and r.trigger.kind == "news_mention" for r in self.engine.rules)


def find_root(given: str | None) -> Path:
    root = Path(given or os.environ.get("OUTREACH_WORKSPACE") or ".").expanduser()
    config = root / CONFIG_FILE
    if not (config.exists() or config.is_symlink()):  # a FIFO or a link is refused when read
        raise WorkspaceError(
            f"no {CONFIG_FILE} in {root}; pass --workspace DIR, set OUTREACH_WORKSPACE, "
            "or create one with `outreach init DIR`"
        )
    return root


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when inside it, and
    named as written (a symbolic link is shown as the link, not where it leads)."""
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
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
    shown_as = shown(root / CONFIG_FILE)
    try:  # outreach.yaml itself says which folders outside may be used: it must be inside
        path = Boundary.of(root).confine(root / CONFIG_FILE, "copy it into the workspace folder")
    except Refused as exc:
        raise WorkspaceError(f"{shown_as}: {exc}") from None
    document = load_yaml_file(path, shown_as, max_bytes=MAX_CONFIG_BYTES)
    problems += document.problems
    if document.problems and document.data is None:
        raise WorkspaceError("; ".join(str(p) for p in document.problems))
    data = document.data if isinstance(document.data, dict) else {}
    config = _validated_config(document, data, problems)
    problems += _outside_writes(root, config, document)
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


def _outside_writes(root: Path, config: Config, document: YamlDocument) -> list[Problem]:
    """Where outreach writes (a SQLite store, file sinks) must be inside the workspace or a
    folder `outside_workspace:` allows; said here at the setting's line, and checked again
    wherever the write happens."""
    found: list[Problem] = []
    try:
        store_file(config.store, root, config.outside_workspace)
    except Refused as exc:
        where = document.locate(("store",), False)
        found.append(problem(where.path, where.line, where.col, f"store: {exc}"))
    boundary = Boundary.of(root, config.outside_workspace)
    for name in ("gifts", "tasks"):
        sink = getattr(config.channels, name)
        if not isinstance(sink, FileChannel):
            continue
        try:
            boundary.confine(root / sink.path)
        except Refused as exc:
            where = document.locate(("channels", name, "path"), False)
            message = f"channels.{name}.path: {sink.path}: {exc}"
            found.append(problem(where.path, where.line, where.col, message))
    return found


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
    files, boundary = config.data, Boundary.of(root, config.outside_workspace)
    max_bytes = int(files.max_file_mb * 1024 * 1024)
    contacts_path = root / files.contacts
    path = data_file(boundary, root, files.contacts, "contacts", problems)
    if path is None:
        return Dataset.build({})
    people = load_contacts(path, shown(contacts_path), sorted(dates or ()), max_bytes=max_bytes)
    contacts = people.contacts
    problems += people.problems
    companies: dict[str, Company] = {}
    if files.companies and (
        path := data_file(boundary, root, files.companies, "companies", problems)
    ):
        companies, found = load_companies(path, shown(root / files.companies))
        problems += found
    problems += check_references(contacts, companies, shown(contacts_path))
    purchases: list[Any] = []
    if files.purchases and (
        path := data_file(boundary, root, files.purchases, "purchases", problems)
    ):
        purchases, found = load_purchases(
            path, shown(root / files.purchases), contacts, max_bytes=max_bytes
        )
        problems += found
    suppressed: set[str] = set()
    if files.suppressions and (
        path := data_file(boundary, root, files.suppressions, "suppressions", problems)
    ):
        suppressed, found = load_suppressions(
            path, shown(root / files.suppressions), max_bytes=max_bytes
        )
        problems += found
    _check_owners(config, contacts.values(), shown(contacts_path), problems)
    if files.feeds and (path := data_file(boundary, root, files.feeds, "feeds", problems, True)):
        problems += load_feed_sources(path, shown(root / files.feeds), boundary)[1]
    return Dataset.build(
        contacts, companies, purchases, suppressed, opted_out_addresses=people.do_not_write
    )


def data_file(
    boundary: Boundary,
    root: Path,
    relative: str,
    what: str,
    problems: list[Problem],
    optional: bool = False,
) -> Path | None:
    """The data file `data.<what>` names, confined to the workspace; None (and a problem,
    unless it is `optional`) when it is missing or refused."""
    path = root / relative
    try:
        confined = boundary.confine(path)
    except Refused as exc:
        problems.append(problem(shown(path), None, None, str(exc)))
        return None
    if confined.exists():
        return confined
    if not optional:
        message = f"{what} file not found (data.{what} in outreach.yaml)"
        problems.append(problem(shown(path), None, None, message))
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
