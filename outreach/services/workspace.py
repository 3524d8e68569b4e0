"""Load a workspace: config, data, rules and templates, collecting every problem on the way.

Nothing here stops at the first mistake: a bad row, rule or template is reported and left
out, and everything sound is kept, so `preview` can still plan it. What could hide an opt-out
— outreach.yaml broken, a contacts file not read whole, a suppression list with errors —
stops all sending until it is fixed (`Workspace.unsafe_to_send`).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # spaCy loads only when news is looked at
    from outreach.adapters.mentions import MentionFinder

from outreach.adapters.sources.files import Boundary
from outreach.adapters.store.location import store_file
from outreach.core.config import Config
from outreach.core.due import keep_indexes
from outreach.core.model import Dataset
from outreach.core.planning import Engine
from outreach.core.problems import Problem
from outreach.errors import WorkspaceError
from outreach.services.authoring import RulePlace, load_rules, load_templates
from outreach.services.config_file import data_files, file_sinks, load_config
from outreach.services.data_files import (
    Read,
    assemble_data,
    data_file,
    date_columns,
    read_data,
    rules_without_their_data,
    unknown_date_columns,
)
from outreach.services.paths import CONFIG_FILE, reading_order, shown

__all__ = [
    "CONFIG_FILE",
    "Authoring",
    "RulePlace",
    "Workspace",
    "data_file",
    "find_root",
    "load_authoring",
    "load_config",
    "load_workspace",
    "reading_order",
    "reload_workspace",
    "shown",
]


@dataclass(frozen=True)
class Authoring:
    """What people write besides outreach.yaml: the rules and templates, with their problems."""

    engine: Engine
    places: dict[str, RulePlace]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


@dataclass(frozen=True)
class Sources:
    """What a workspace was made of, part by part: a daemon reads again only the parts whose
    files changed, and keeps the rest."""

    settings: tuple[Problem, ...]  # in outreach.yaml
    authoring: tuple[Problem, ...]  # in rules and templates
    reads: dict[str, Read]  # each data kind as read
    dates: frozenset[str]  # the date columns the contacts were read with (the rules')
    data_problems: tuple[Problem, ...]
    blocker: str | None  # why the data allows nothing to be sent


@dataclass
class Workspace:
    root: Path
    config: Config
    engine: Engine
    data: Dataset
    problems: list[Problem] = field(default_factory=list)
    finder: MentionFinder | None = None  # built on first use, by services.news
    unsafe_to_send: str | None = None  # why nothing may be sent until it is fixed
    rule_places: dict[str, RulePlace] = field(default_factory=dict)
    authored: tuple[Problem, ...] = ()  # in outreach.yaml, rules and templates
    config_errors: tuple[Problem, ...] = ()  # in outreach.yaml
    sources: Sources | None = None  # what it was loaded from, for a reload of what changed

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def authoring_errors(self) -> list[Problem]:
        """Errors in what people write by hand: outreach.yaml, rules and templates (not
        data rows). A daemon keeps its last good workspace while there are any."""
        return [p for p in self.authored if p.is_error]

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


def load_workspace(root: Path) -> Workspace:
    settings: list[Problem] = []
    config = load_config(root, settings)
    return _assembled(root, config, tuple(settings), load_authoring(root, config), None, {})


def load_authoring(root: Path, config: Config) -> Authoring:
    """The rules and templates as their files hold them now."""
    found: list[Problem] = []
    templates = load_templates(root, config, found)
    places: dict[str, RulePlace] = {}
    rules, conditions = load_rules(root, config, templates, found, places)
    return Authoring(Engine(config, tuple(rules), templates, conditions), places, tuple(found))


def reload_workspace(
    before: Workspace, kinds: Collection[str], authoring: Authoring | None = None
) -> Workspace:
    """`before` with the data kinds in `kinds` read again from their files and `authoring`
    (else before's rules and templates) in place; the rest is kept as loaded, the data's
    indexes too. outreach.yaml is kept: when it changes, load the workspace whole."""
    sources = before.sources
    if sources is None:  # not made by load_workspace: nothing known to keep
        return load_workspace(before.root)
    authoring = authoring or authoring_of(before)
    kept = {kind: read for kind, read in sources.reads.items() if kind not in kinds}
    return _assembled(before.root, before.config, sources.settings, authoring, before, kept)


def authoring_of(workspace: Workspace) -> Authoring:
    """The rules and templates `workspace` runs, with their problems."""
    sources = workspace.sources
    found = sources.authoring if sources is not None else workspace.authored
    return Authoring(workspace.engine, workspace.rule_places, found)


def _assembled(
    root: Path,
    config: Config,
    settings: tuple[Problem, ...],
    authoring: Authoring,
    before: Workspace | None,
    kept: dict[str, Read],
) -> Workspace:
    rules = list(authoring.engine.rules)
    dates = frozenset(date_columns(rules))
    old = before.sources if before is not None else None
    if old is not None and old.dates != dates:  # contacts hold the date columns rules read
        kept.pop("contacts", None)
    if before is not None and old is not None and _same(kept, old.reads):
        data, data_problems, blocker = before.data, list(old.data_problems), old.blocker
        reads = kept
    else:
        with long_lived():  # after the rules: the date columns they read are checked on loading
            reads = read_data(root, config, dates, kept)
            data, data_problems, blocker = assemble_data(reads, root, config)
        if before is not None:
            keep_indexes(before.data, data)
    problems = [*settings, *authoring.problems, *data_problems]
    problems += unknown_date_columns(
        rules, data, authoring.places, shown(root / config.data.contacts)
    )
    problems += rules_without_their_data(rules, root, config, authoring.places)
    problems.sort(key=reading_order)
    config_errors = tuple(p for p in settings if p.is_error)
    unsafe = blocker
    if config_errors:
        unsafe = f"outreach.yaml has errors (the first at {config_errors[0].location})"
    sources = Sources(settings, authoring.problems, reads, dates, tuple(data_problems), blocker)
    return Workspace(
        root,
        config,
        authoring.engine,
        data,
        problems,
        unsafe_to_send=unsafe,
        rule_places=authoring.places,
        authored=(*settings, *authoring.problems),
        config_errors=config_errors,
        sources=sources,
    )


def _same(kept: dict[str, Read], reads: dict[str, Read]) -> bool:
    """Whether every kind is kept as read (by identity: a Read holds a whole file)."""
    return kept.keys() == reads.keys() and all(kept[kind] is reads[kind] for kind in reads)


def workspace_file(workspace: Workspace, path: Path) -> str | None:
    """What `path` is to the workspace, when it is a file the workspace reads or writes (the
    config, data, rules, templates, the store, a sink, its store record), else None."""
    target = _resolved(path)
    root, config = workspace.root, workspace.config
    files = {
        CONFIG_FILE: root / CONFIG_FILE,
        **{f"data.{name}": root / relative for name, relative in data_files(config)},
        **{f"channels.{name}.path": root / sink.path for name, sink in file_sinks(config)},
    }
    store = store_file(config.store, root, config.outside_workspace)
    if store is not None:
        files |= {"the store": store, **{f"the store's {s}": store.with_name(store.name + s)
                                         for s in ("-wal", "-shm", "-journal")}}  # fmt: skip
    for what, known in files.items():
        if target == _resolved(known):
            return what
    for folder in ("rules", "templates", ".outreach"):
        if target.is_relative_to(_resolved(root / folder)):
            return f"in {folder}/"
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: compared as written
        return path.absolute()


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
