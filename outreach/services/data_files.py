"""The workspace's data files (contacts, companies, purchases, suppressions, feeds), each
confined to the workspace and read through its loader; and whether it is safe to send given
what they hold: a contacts file read only in part, or a suppression list with errors, could
hide an opt-out."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from outreach.adapters.feeds.sources import load_feed_sources
from outreach.adapters.sources.columnar import (
    owner_warnings,
    plain_csv,
    read_contacts,
    read_purchases,
    reference_warnings,
)
from outreach.adapters.sources.contacts import check_references, load_contacts
from outreach.adapters.sources.data import load_companies, load_purchases
from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.suppressions import load_suppressions
from outreach.core.config import Config
from outreach.core.model import Company, Dataset, not_to_write
from outreach.core.problems import Problem, problem, warning
from outreach.core.rules import TRIGGER_DATA, Rule
from outreach.services.authoring import RulePlace
from outreach.services.paths import shown


def unknown_date_columns(
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
            why = f"reads the date column '{column.pop()}', which {contacts_file} does not have"
            found.append(_never_fires(rule, places, why))
    return found


def rules_without_their_data(
    rules: list[Rule], root: Path, config: Config, places: dict[str, RulePlace]
) -> list[Problem]:
    """A rule whose trigger reads a kind of data the workspace does not have never fires."""
    absent = {kind for kind in OPTIONAL_KINDS if not _present(root, config, kind)}
    found = []
    for rule in rules:
        for kind in TRIGGER_DATA.get(rule.trigger.kind, ()):
            if kind in absent:
                why = f"needs {kind}, which this workspace does not have (set data.{kind})"
                found.append(_never_fires(rule, places, why))
    return found


def _never_fires(rule: Rule, places: dict[str, RulePlace], why: str) -> Problem:
    where = places[rule.id].trigger
    return warning(where.path, where.line, where.col, f"rule '{rule.id}' {why}; it never fires")


def _present(root: Path, config: Config, kind: str) -> bool:
    """Whether a kind of data is set up: named in outreach.yaml, or at its usual place."""
    relative = getattr(config.data, kind)
    return bool(relative) and (config.data.named(kind) or (root / relative).exists())


def date_columns(rules: list[Rule]) -> set[str]:
    """The contact columns the rules read as dates."""
    return {
        rule.trigger.params.field
        for rule in rules
        if rule.trigger.kind in ("anniversary", "date") and rule.trigger.params.field
    }


OPTIONAL_KINDS = ("companies", "purchases", "feeds", "suppressions")


def load_data(
    root: Path,
    config: Config,
    problems: list[Problem],
    dates: Iterable[str] = (),
    engine: str | None = None,
) -> tuple[Dataset, str | None]:
    """The data, and why nothing may be sent (an opt-out could be missed), or None.
    `engine` overrides `data.engine` (`validate` reads every row: memory)."""
    files, boundary = config.data, Boundary.of(root, config.outside_workspace)
    max_bytes = int(files.max_file_mb * 1024 * 1024)
    contacts_path = root / files.contacts
    path = data_file(boundary, root, files.contacts, "contacts", problems)
    if path is None:
        return Dataset.build({}), "the contacts file cannot be read"
    dates = sorted(set(dates) - {"customer_since"})  # a known column, read as such already
    if _columnar(root, config, boundary, path, engine or files.engine):
        found: list[Problem] = []
        loaded = _load_columnar(root, config, boundary, path, dates, found)
        if loaded is not None:
            problems += found
            return loaded
    people = load_contacts(path, shown(contacts_path), dates, max_bytes=max_bytes)
    contacts = people.contacts
    problems += people.problems
    blocker = (
        f"the contacts file was not read whole ({people.incomplete})" if people.incomplete else None
    )

    def read(kind: str) -> Path | None:
        relative = getattr(files, kind)
        return relative and data_file(boundary, root, relative, kind, problems, files.named(kind))

    companies: dict[str, Company] = {}
    if path := read("companies"):
        companies, found = load_companies(path, shown(root / str(files.companies)))
        problems += found
    problems += check_references(contacts, companies, shown(contacts_path))
    purchases: list[Any] = []
    if path := read("purchases"):
        where, whole = shown(root / str(files.purchases)), not people.incomplete
        purchases, found = load_purchases(path, where, contacts, max_bytes, whole)
        problems += found
    suppressed, trouble = _suppressions(root, config, boundary, problems, max_bytes)
    blocker = blocker or trouble
    _check_owners(config, contacts.values(), shown(contacts_path), problems)
    if path := read("feeds"):
        problems += load_feed_sources(path, shown(root / str(files.feeds)), boundary)[1]
    data = Dataset.build(
        contacts, companies, purchases, suppressed, opted_out_addresses=people.do_not_write
    )
    return data, blocker


COLUMNAR_FROM_BYTES = 32 * 1024 * 1024  # data.engine auto: contacts and purchases together


def _columnar(root: Path, config: Config, boundary: Boundary, contacts: Path, engine: str) -> bool:
    """Whether to read contacts and purchases with DuckDB (outreach.adapters.sources.columnar)."""
    if engine == "memory":
        return False
    files = [contacts]
    if config.data.purchases and (purchases := _confined(boundary, root / config.data.purchases)):
        files.append(purchases)
    if engine == "auto" and sum(_size(f) for f in files) < COLUMNAR_FROM_BYTES:
        return False
    return all(plain_csv(f) is None for f in files)


def _confined(boundary: Boundary, path: Path) -> Path | None:
    try:
        confined = boundary.confine(path)
    except Refused:
        return None
    return confined if confined.is_file() else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _load_columnar(
    root: Path,
    config: Config,
    boundary: Boundary,
    path: Path,
    dates: list[str],
    problems: list[Problem],
) -> tuple[Dataset, str | None] | None:
    """`load_data` with contacts and purchases read by DuckDB; None when a file turns out
    not to suit it (then everything is read the other way)."""
    files, max_bytes = config.data, int(config.data.max_file_mb * 1024 * 1024)
    where = shown(root / files.contacts)
    if _size(path) > max_bytes:
        return None
    try:
        data = read_contacts(path, where, dates, max_bytes)
        if data is None:
            return None
        problems += data.problems
        companies: dict[str, Company] = {}
        named = files.named
        if files.companies and (
            listed := data_file(
                boundary, root, files.companies, "companies", problems, named("companies")
            )
        ):
            companies, more = load_companies(listed, shown(root / files.companies))
            problems += more
        problems += reference_warnings(data, companies, where)
        if files.purchases and (
            bought := data_file(
                boundary, root, files.purchases, "purchases", problems, named("purchases")
            )
        ):
            if _size(bought) > max_bytes:
                return None
            read = read_purchases(data, bought, shown(root / files.purchases), max_bytes)
            if read is None:
                return None
            problems += read
    except duckdb.Error:
        return None
    suppressed, blocker = _suppressions(root, config, boundary, problems, max_bytes)
    problems += owner_warnings(data, config.owners, where)
    if files.feeds and (
        feeds := data_file(boundary, root, files.feeds, "feeds", problems, files.named("feeds"))
    ):
        problems += load_feed_sources(feeds, shown(root / files.feeds), boundary)[1]
    dataset = Dataset(
        contacts=data.contacts,
        companies=companies,
        purchases=data.purchases,
        do_not_write=not_to_write(suppressed, data.do_not_write),
        mentions={},
        referrals=data.referrals,
        lookup=data.index,
    )
    return dataset, blocker


def _suppressions(
    root: Path, config: Config, boundary: Boundary, problems: list[Problem], max_bytes: int
) -> tuple[set[str], str | None]:
    """The suppression list, and why it cannot be trusted whole (then nothing is sent)."""
    relative = config.data.suppressions
    if not relative:
        return set(), None
    before = len(problems)
    named = config.data.named("suppressions")
    path = data_file(boundary, root, relative, "suppressions", problems, named)
    if path is None:  # none at the usual place is no list; one that cannot be read is doubt
        return set(), "the suppression list cannot be read" if len(problems) > before else None
    listed, found = load_suppressions(path, shown(root / relative), max_bytes=max_bytes)
    problems += found
    error = next((p for p in found if p.is_error), None)
    return listed, f"the suppression list has errors ({error})" if error else None


def data_file(
    boundary: Boundary,
    root: Path,
    relative: str,
    what: str,
    problems: list[Problem],
    required: bool = True,
) -> Path | None:
    """The data file `data.<what>` names, confined to the workspace; None when it is missing
    (a problem when it is `required`) or refused (a problem)."""
    path = root / relative
    try:
        confined = boundary.confine(path)
    except Refused as exc:
        problems.append(problem(shown(path), None, None, str(exc)))
        return None
    if confined.exists():
        return confined
    if required:
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
