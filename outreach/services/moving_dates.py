"""The data a plan at `now` works from: as loaded, or — with `data_dated_for` in
outreach.yaml (demo data) — with its dates moved to `now`'s day (outreach.core.moving_dates).
Chosen here, where `now` is known; without the setting nothing is moved."""

from __future__ import annotations

from datetime import datetime, timedelta

from outreach.adapters.sources.contacts import canonical_column
from outreach.adapters.sources.csvfile import CsvFile, Row
from outreach.adapters.sources.files import Refused
from outreach.core.model import Dataset
from outreach.core.moving_dates import Unmoved, days_to_move, moved_data
from outreach.core.problems import Problem, problem
from outreach.core.timing import EARLIEST_DATE, LATEST_DATE, zone
from outreach.core.wording import signed
from outreach.services.data_sources import source_name
from outreach.services.paths import shown
from outreach.services.workspace import Workspace


def days_moved(workspace: Workspace, now: datetime) -> int | None:
    """How many days the data moves at `now`; None when it never moves."""
    dated_for = workspace.config.data_dated_for
    if dated_for is None:
        return None
    return days_to_move(dated_for, now, zone(workspace.config.timezone))


def planned_data(workspace: Workspace, now: datetime) -> Dataset:
    """The workspace's data as of `now`. A date moved outside the accepted years is a bad
    cell, added to the workspace's problems (once) at its file:line:col."""
    days = days_moved(workspace, now)
    if not days:
        return workspace.data
    data, unmoved = moved_data(workspace.data, days)
    for found in _located(workspace, unmoved, days):
        if found not in workspace.problems:
            workspace.problems.append(found)
    return data


def moved_note(workspace: Workspace, now: datetime) -> str | None:
    """One line saying the data's dates were moved, for the commands that plan."""
    dated_for, days = workspace.config.data_dated_for, days_moved(workspace, now)
    if dated_for is None or days is None:
        return None
    return (
        f"note: the data is dated for {dated_for} (data_dated_for in outreach.yaml): its "
        f"dates are moved by {signed(days, 'day')}, to {dated_for + timedelta(days=days)} "
        "(for demo and sample data only: delete the setting once the data is real)"
    )


def _located(workspace: Workspace, unmoved: list[Unmoved], days: int) -> list[Problem]:
    """Each unmoved date at its cell: the file is read again (only then) for the column."""
    files = workspace.config.data
    found: list[Problem] = []
    for what, kind in (("contact", "contacts"), ("purchase", "purchases")):
        wanted = [u for u in unmoved if u.what == what]
        relative = files.file(kind)
        if wanted and relative:
            found += _in_file(workspace, relative, wanted, days)
        elif wanted:  # a database's row: named by its source, not read again
            where = source_name(workspace.root, workspace.config, kind)
            found += [problem(where, None, None, _message(workspace, u, days)) for u in wanted]
    return found


def _in_file(
    workspace: Workspace, relative: str, wanted: list[Unmoved], days: int
) -> list[Problem]:
    path = workspace.root / relative
    source = CsvFile(path, shown(path))
    by_line: dict[int, Row] = {}
    by_id: dict[str, Row] = {}
    try:
        source.path = workspace.boundary.confine(path)
        for row in source.rows():
            by_line[row[1]], by_id[_cell(source, row, "id")] = row, row
    except (Refused, OSError):
        pass  # read a moment ago: then pointed at by line alone
    found = []
    for item in wanted:
        message = _message(workspace, item, days)
        cells = by_line.get(item.line) if item.what == "contact" else by_id.get(item.id)
        if cells is None:
            found.append(problem(source.shown_as, item.line or None, None, message))
        else:
            found.append(source.at(cells, _index(source, item.column), message))
    return found


def _message(workspace: Workspace, item: Unmoved, days: int) -> str:
    lost = "this cell is not used" if item.what == "contact" else "this purchase is left out"
    return (
        f"{item.column}: {item.value} moved by {signed(days, 'day')} (data_dated_for in "
        f"outreach.yaml) falls outside the years {EARLIEST_DATE.year}-{LATEST_DATE.year}; "
        f"{lost}; write a date nearer {workspace.config.data_dated_for}"
    )


def _index(source: CsvFile, column: str) -> int | str:
    for index, name in enumerate(source.names):
        if name == column or canonical_column(name) == column:
            return index
    return column


def _cell(source: CsvFile, row: Row, column: str) -> str:
    index = _index(source, column)
    cells = row[0]
    return cells[index].strip() if isinstance(index, int) and index < len(cells) else ""
