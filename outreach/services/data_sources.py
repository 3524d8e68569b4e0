"""Where each kind of data comes from — a workspace file, or a SQL source outreach.yaml
names — opened as one kind of thing: a row source the loaders read (`adapters.sources.rows`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from outreach.adapters.sources.csvfile import CsvFile
from outreach.adapters.sources.files import Boundary
from outreach.adapters.sources.rows import RowSource
from outreach.adapters.sources.sql import SourceUnusable, SqlPlace, SqlRows, sql_place
from outreach.core.config import Config, SqlSource
from outreach.core.problems import Problem, problem
from outreach.services.paths import CONFIG_FILE, shown

# The column that names a row of each kind, unless `key:` says otherwise.
DEFAULT_KEYS = {"contacts": "id", "companies": "id", "purchases": "id", "suppressions": "email"}


def row_source(
    root: Path,
    config: Config,
    kind: str,
    problems: list[Problem],
    required: bool = True,
    environ: Mapping[str, str] | None = None,
) -> RowSource | None:
    """The rows of `data.<kind>`: a CSV file confined to the workspace, or a SQL source; None
    (with a problem) when it cannot be opened, or (without one, unless `required`) when a
    file is missing."""
    setting = getattr(config.data, kind)
    if isinstance(setting, SqlSource):
        place = sql_source(root, config, kind, problems, environ)
        return SqlRows(place, keep_keys=kind == "contacts") if place else None
    from outreach.services.data_files import data_file  # it reads through this module

    boundary = Boundary.of(root, config.outside_workspace)
    path = data_file(boundary, root, setting, kind, problems, required)
    if path is None:
        return None
    return CsvFile(path, shown(root / setting), int(config.data.max_file_mb * 1024 * 1024))


def sql_source(
    root: Path,
    config: Config,
    kind: str,
    problems: list[Problem],
    environ: Mapping[str, str] | None = None,
) -> SqlPlace | None:
    """The SQL source `data.<kind>` names, ready to read; None, with a problem at
    outreach.yaml, when it cannot be tried (a variable unset, a SQLite file missing)."""
    setting = getattr(config.data, kind)
    assert isinstance(setting, SqlSource)
    try:
        return sql_place(
            kind,
            setting,
            root,
            config.outside_workspace,
            os.environ if environ is None else environ,
            DEFAULT_KEYS[kind],
        )
    except SourceUnusable as exc:
        problems.append(problem(CONFIG_FILE, None, None, f"data.{kind}: {exc}"))
        return None


def source_name(root: Path, config: Config, kind: str) -> str:
    """`data.<kind>` as messages name it: the file, or the database and table."""
    setting = getattr(config.data, kind)
    if not isinstance(setting, SqlSource):
        return shown(root / str(setting))
    place = sql_source(root, config, kind, [])
    return place.shown_as if place else f"data.{kind}"


def sql_stamp(
    config: Config, now: float | None = None
) -> tuple[tuple[str, int, int, int, int], ...]:
    """For the daemon's watch: each SQL source's current refresh period, which changes every
    `refresh` and makes the daemon read the data again (a database says nothing when it
    changes, as a file's time stamp does)."""
    clock = time.time() if now is None else now
    return tuple(
        (f"data.{kind}", int(clock // max(setting.refresh.total_seconds(), 1)), 0, 0, 0)
        for kind, setting in config.data.sql_sources().items()
    )
