"""The workspace's data files (contacts, companies, purchases, suppressions, feeds), each
confined to the workspace and read through its loader; and whether it is safe to send given
what they hold: a contacts file read only in part, or a suppression list with errors, could
hide an opt-out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from outreach.adapters.feeds.sources import load_feed_sources
from outreach.adapters.sources.company_rows import read_companies
from outreach.adapters.sources.contacts import check_references, read_contacts
from outreach.adapters.sources.data import load_companies, read_purchases
from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.suppressions import read_suppressions
from outreach.core.config import Config, SqlSource
from outreach.core.model import Company, Dataset
from outreach.core.problems import Location, Problem, Severity, problem, warning
from outreach.core.rules import TRIGGER_DATA, Rule
from outreach.services.authoring import RulePlace
from outreach.services.data_sources import row_source
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
    if isinstance(relative, SqlSource):
        return True
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
    root: Path, config: Config, problems: list[Problem], dates: Iterable[str] = ()
) -> tuple[Dataset, str | None]:
    """The data, and why nothing may be sent (an opt-out could be missed), or None."""
    files, boundary = config.data, Boundary.of(root, config.outside_workspace)
    rows = row_source(root, config, "contacts", problems)
    if rows is None:
        return Dataset.build({}), "the contacts file cannot be read"
    dates = sorted(set(dates) - {"customer_since"})  # a known column, read as such already
    people = read_contacts(rows, dates)
    contacts = people.contacts
    problems += people.problems
    blocker = (
        f"the contacts file was not read whole ({people.incomplete})" if people.incomplete else None
    )

    def read(kind: str) -> Path | None:
        relative = files.file(kind)
        if relative is None:
            return None
        return data_file(boundary, root, relative, kind, problems, files.named(kind))

    companies: dict[str, Company] = {}
    if isinstance(files.companies, SqlSource):
        if source := row_source(root, config, "companies", problems):
            companies, found = read_companies(source)
            problems += found
    elif path := read("companies"):
        companies, found = load_companies(path, shown(root / str(files.companies)))
        problems += found
    problems += check_references(contacts, companies, people.place)
    purchases: list[Any] = []
    named = files.named("purchases")
    if files.purchases and (source := row_source(root, config, "purchases", problems, named)):
        purchases, found = read_purchases(source, contacts, not people.incomplete)
        problems += found
    suppressed, trouble = _suppressions(root, config, problems)
    blocker = blocker or trouble
    _check_owners(config, contacts.values(), people.place, problems)
    if path := read("feeds"):
        problems += load_feed_sources(path, shown(root / str(files.feeds)), boundary)[1]
    data = Dataset.build(
        contacts, companies, purchases, suppressed, opted_out_addresses=people.do_not_write
    )
    return data, blocker


def _suppressions(
    root: Path, config: Config, problems: list[Problem]
) -> tuple[set[str], str | None]:
    """The suppression list, and why it cannot be trusted whole (then nothing is sent)."""
    if not config.data.suppressions:
        return set(), None
    before = len(problems)
    named = config.data.named("suppressions")
    source = row_source(root, config, "suppressions", problems, named)
    if source is None:  # none at the usual place is no list; one that cannot be read is doubt
        return set(), "the suppression list cannot be read" if len(problems) > before else None
    listed, found = read_suppressions(source)
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


def _check_owners(
    config: Config, contacts: Any, place: Callable[[int], Location], problems: list[Problem]
) -> None:
    if not config.owners:
        return
    known = {email.lower() for email in config.owners}
    reported: set[str] = set()
    for contact in contacts:
        owner = contact.owner
        if owner and owner.lower() not in known and owner not in reported:
            reported.add(owner)
            message = (
                f"owner '{owner}' has no entry under owners: in outreach.yaml; "
                "their name is guessed"
            )
            problems.append(Problem(place(contact.line), message, Severity.WARNING))
