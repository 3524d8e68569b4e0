"""outreach.yaml: read, validated with every problem located, and kept usable — a broken
entry is left out (with a problem) and its sound siblings are used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.yamlfile import YamlDocument, load_yaml_file
from outreach.adapters.store import store_file
from outreach.core.config import Config, FileChannel
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
