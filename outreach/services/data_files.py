"""The workspace's data files (contacts, companies, purchases, suppressions, feeds), each
confined to the workspace and read through its loader; and whether it is safe to send given
what they hold: a contacts file read only in part, or a suppression list with errors, could
hide an opt-out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach.adapters.feeds.sources import load_feed_sources
from outreach.adapters.sources.contacts import ContactsFile, check_references, load_contacts
from outreach.adapters.sources.data import load_companies, load_purchases
from outreach.adapters.sources.files import Boundary, Refused
from outreach.adapters.sources.suppressions import load_suppressions
from outreach.core.config import Config
from outreach.core.model import EMPTY, Company, Dataset
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


DATA_KINDS = ("contacts", "companies", "purchases", "suppressions", "feeds")


@dataclass(frozen=True, eq=False)  # compared by identity: one holds a whole file
class Read:
    """One kind of data as read from its file: what it holds, the problems found reading it,
    and why nothing may be sent because of it (None: nothing). A daemon keeps the kinds whose
    files did not change, and reads the others again."""

    value: Any = None
    problems: tuple[Problem, ...] = ()
    blocker: str | None = None


def load_data(
    root: Path, config: Config, problems: list[Problem], dates: Iterable[str] = ()
) -> tuple[Dataset, str | None]:
    """The data, and why nothing may be sent (an opt-out could be missed), or None."""
    data, found, blocker = assemble_data(read_data(root, config, dates), root, config)
    problems += found
    return data, blocker


def read_data(
    root: Path, config: Config, dates: Iterable[str] = (), kept: Mapping[str, Read] = EMPTY
) -> dict[str, Read]:
    """Each kind of data: those in `kept` as they are, the others read from their files.
    Purchases are checked against the contacts: they are read again whenever those are. No
    other kind is read while the contacts file cannot be."""
    reads = dict(kept)
    if "contacts" not in reads:
        reads["contacts"] = _read_contacts(root, config, dates)
        reads.pop("purchases", None)
    if reads["contacts"].value is None:
        return {"contacts": reads["contacts"]}
    people: ContactsFile = reads["contacts"].value
    for kind in DATA_KINDS[1:]:
        if kind not in reads:
            reads[kind] = _READERS[kind](root, config, people)
    return reads


def assemble_data(
    reads: Mapping[str, Read], root: Path, config: Config
) -> tuple[Dataset, list[Problem], str | None]:
    """The data `read_data` read, checked against each other (a contact's company, an
    owner), with every problem found, and why nothing may be sent, or None."""
    contacts = reads["contacts"]
    problems = list(contacts.problems)
    if contacts.value is None:
        return Dataset.build({}), problems, contacts.blocker
    people: ContactsFile = contacts.value
    contacts_file = shown(root / config.data.contacts)
    companies = reads["companies"]
    problems += companies.problems
    problems += check_references(people.contacts, companies.value, contacts_file)
    problems += reads["purchases"].problems
    problems += reads["suppressions"].problems
    _check_owners(config, people.contacts.values(), contacts_file, problems)
    problems += reads["feeds"].problems
    data = Dataset.build(
        people.contacts,
        companies.value,
        reads["purchases"].value,
        reads["suppressions"].value,
        opted_out_addresses=people.do_not_write,
    )
    return data, problems, contacts.blocker or reads["suppressions"].blocker


def _read_contacts(root: Path, config: Config, dates: Iterable[str]) -> Read:
    files, problems = config.data, list[Problem]()
    max_bytes = int(files.max_file_mb * 1024 * 1024)
    contacts_path = root / files.contacts
    path = data_file(_boundary(root, config), root, files.contacts, "contacts", problems)
    if path is None:
        return Read(None, tuple(problems), "the contacts file cannot be read")
    dates = sorted(set(dates) - {"customer_since"})  # a known column, read as such already
    people = load_contacts(path, shown(contacts_path), dates, max_bytes=max_bytes)
    problems += people.problems
    blocker = (
        f"the contacts file was not read whole ({people.incomplete})" if people.incomplete else None
    )
    return Read(people, tuple(problems), blocker)


def _read_companies(root: Path, config: Config, people: ContactsFile) -> Read:
    problems: list[Problem] = []
    companies: dict[str, Company] = {}
    if path := _optional_file(root, config, "companies", problems):
        companies, found = load_companies(path, shown(root / str(config.data.companies)))
        problems += found
    return Read(companies, tuple(problems))


def _read_purchases(root: Path, config: Config, people: ContactsFile) -> Read:
    problems: list[Problem] = []
    purchases: list[Any] = []
    if path := _optional_file(root, config, "purchases", problems):
        where, whole = shown(root / str(config.data.purchases)), not people.incomplete
        max_bytes = int(config.data.max_file_mb * 1024 * 1024)
        purchases, found = load_purchases(path, where, people.contacts, max_bytes, whole)
        problems += found
    return Read(purchases, tuple(problems))


def _read_suppressions(root: Path, config: Config, people: ContactsFile) -> Read:
    problems: list[Problem] = []
    max_bytes = int(config.data.max_file_mb * 1024 * 1024)
    listed, trouble = _suppressions(root, config, _boundary(root, config), problems, max_bytes)
    return Read(listed, tuple(problems), trouble)


def _read_feeds(root: Path, config: Config, people: ContactsFile) -> Read:
    problems: list[Problem] = []
    if path := _optional_file(root, config, "feeds", problems):
        where = shown(root / str(config.data.feeds))
        problems += load_feed_sources(path, where, _boundary(root, config))[1]
    return Read(None, tuple(problems))


_READERS: dict[str, Callable[[Path, Config, ContactsFile], Read]] = {
    "companies": _read_companies,
    "purchases": _read_purchases,
    "suppressions": _read_suppressions,
    "feeds": _read_feeds,
}


def _optional_file(root: Path, config: Config, kind: str, problems: list[Problem]) -> Path | None:
    files = config.data
    relative = getattr(files, kind)
    boundary = _boundary(root, config)
    return relative and data_file(boundary, root, relative, kind, problems, files.named(kind))


def _boundary(root: Path, config: Config) -> Boundary:
    return Boundary.of(root, config.outside_workspace)


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
