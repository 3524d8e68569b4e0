"""outreach.yaml: read, validated with every problem located, and kept usable — a broken
entry is left out (with a problem) and its sound siblings are used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outreach.adapters.feeds.addresses import plainly_private
from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.yamlfile import YamlDocument, load_yaml_file
from outreach.adapters.store.location import store_file
from outreach.core.config import Config, FileChannel, WebhookChannel
from outreach.core.diagnostics import validation_problems
from outreach.core.problems import Problem, problem, warning
from outreach.core.timing import zone
from outreach.errors import WorkspaceError
from outreach.services.paths import CONFIG_FILE, shown

MAX_CONFIG_BYTES = 2_000_000


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
    folder `outside_workspace:` allows, never a file the workspace reads (nor each other),
    and the store a regular file; said here at the setting's line, and checked again
    wherever the write happens. A webhook sink plainly on this machine or a private network
    is refused like a feed there (`network.allow_private`)."""
    found = _private_sinks(config, document)
    boundary = Boundary.of(root, config.outside_workspace)
    read, written = _read_files(root, config), dict[Path, str]()
    settings: list[tuple[tuple[str, ...], str, str | None]] = [(("store",), "store", None)]
    settings += [
        (("channels", n, "path"), f"channels.{n}.path", s.path) for n, s in file_sinks(config)
    ]
    for loc, setting, relative in settings:
        try:
            path = (
                store_file(config.store, root, config.outside_workspace)
                if relative is None
                else boundary.confine(root / relative)
            )
            if path is not None:
                _check_target(path, setting, read, written)
        except Refused as exc:
            where = document.locate(loc, False)
            found.append(problem(where.path, where.line, where.col, f"{setting}: {exc}"))
    return found


def file_sinks(config: Config) -> list[tuple[str, FileChannel]]:
    sinks = [(name, getattr(config.channels, name)) for name in ("gifts", "tasks")]
    return [(name, sink) for name, sink in sinks if isinstance(sink, FileChannel)]


def _private_sinks(config: Config, document: YamlDocument) -> list[Problem]:
    if config.network.allow_private:
        return []
    found = []
    for name in ("gifts", "tasks"):
        sink = getattr(config.channels, name)
        if isinstance(sink, WebhookChannel) and (why := plainly_private(sink.url)):
            where = document.locate(("channels", name, "url"), False)
            found.append(problem(where.path, where.line, where.col, f"channels.{name}.url: {why}"))
    return found


def _check_target(
    target: Path, setting: str, read: dict[Path, str], written: dict[Path, str]
) -> None:
    """Refused when outreach would write into a file it reads, two settings name one, or
    the store's is not a file."""
    if setting == "store" and target.exists() and not target.is_file():
        raise Refused(f"{target} is not a file; name a file for the store")
    clash = read.get(target) or next(
        (
            what
            for folder, what in read.items()
            if folder.is_dir() and target.is_relative_to(folder)
        ),
        None,
    )
    if clash:
        raise Refused(f"{target} is {clash}, which outreach reads; name another file")
    if target in written:
        raise Refused(f"{target} is also {written[target]}; name another file")
    written[target] = setting


def _read_files(root: Path, config: Config) -> dict[Path, str]:
    """What the workspace reads, with symlinks resolved: its config, data files, rules and
    templates."""
    named = {CONFIG_FILE: CONFIG_FILE, "rules/": "rules", "templates/": "templates"}
    named |= {f"data.{name}": relative for name, relative in data_files(config)}
    read = {}
    for what, relative in named.items():
        try:
            read[(root / relative).resolve()] = what
        except (OSError, RuntimeError):
            continue
    return read


def data_files(config: Config) -> list[tuple[str, str]]:
    """Each data file outreach.yaml names: (kind, path as written); a kind read from a
    database has none."""
    kinds = ("contacts", "companies", "purchases", "feeds", "suppressions")
    named = {kind: config.data.file(kind) for kind in kinds}
    return [(name, relative) for name, relative in named.items() if relative]


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
    for dropped in (broken, [path[:1] for path in broken]):
        try:
            config = Config.model_validate(_without(data, dropped))
        except ValidationError:
            continue
        return config.with_unreadable(".".join(map(str, path)) for path in dropped)
    return Config().with_unreadable(map(str, data))


def _without(data: dict[str, Any], paths: list[tuple[Any, ...]]) -> dict[str, Any]:
    pruned = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for path in paths:
        section = pruned.get(path[0])
        if len(path) == 2 and isinstance(section, dict):
            section.pop(path[1], None)
        else:
            pruned.pop(path[0], None)
    return pruned
