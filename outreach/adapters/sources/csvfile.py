"""CSV rows with the line and column they came from, so a bad cell can be pointed at."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from outreach.adapters.sources.files import Refused, open_regular
from outreach.adapters.sources.rows import Row, listed
from outreach.core.problems import Location, Problem, problem

MAX_FIELD = 1_000_000
MAX_LINE = 10_000_000  # characters: one line of a data file (a sparse file is one long line)
MAX_COLUMNS = 1_000  # a file of 200,000 empty columns costs gigabytes to hold
csv.field_size_limit(MAX_FIELD)
MAX_FILE_BYTES = 1024 * 1024 * 1024  # outreach.yaml's data.max_file_mb changes it


_TOO_LARGE = "raise data.max_file_mb in outreach.yaml if it is the right file"

__all__ = ["CsvFile", "Row", "cell", "column_offset", "header_key"]


class CsvFile:
    """Iterate the records of a CSV file after its header, remembering lines: a row source
    (`rows.RowSource`) whose records are numbered by the line they start on.

    `header` maps each column name to its index; `problems` collects file-level trouble.
    """

    def __init__(self, path: Path, shown_as: str, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.path = path  # from `Boundary.confine`
        self.shown_as = shown_as
        self.max_bytes = max_bytes
        self.header: dict[str, int] = {}  # column name -> index
        self.names: list[str] = []  # every column's name, by index ("" for unnamed ones)
        self.problems: list[Problem] = []
        # Why part of the file was not read (a row that cannot be parsed, a bad byte, the
        # size cap): what is missing could have said anything, an opt-out among it.
        self.incomplete: str | None = None

    def rows(self) -> Iterator[Row]:
        try:
            with open_regular(self.path, self.max_bytes, _TOO_LARGE) as opened:
                yield from self._read(opened.text(encoding="utf-8-sig", newline=""))
        except Refused as exc:
            self._lost(None, str(exc))
        except OSError as exc:
            self._lost(None, f"cannot read: {exc}")
        except UnicodeDecodeError as exc:
            self._lost(None, f"not UTF-8 text ({exc.reason}); save as UTF-8")

    def _lost(self, line: int | None, message: str) -> None:
        found = problem(self.shown_as, line, None, message)
        self.problems.append(found)
        self.incomplete = self.incomplete or str(found)

    def _read(self, handle: io.TextIOBase) -> Iterator[Row]:
        reader = csv.reader(_lines(handle))
        try:
            names = next(reader)
        except StopIteration:
            self.problems.append(
                problem(self.shown_as, 1, None, "empty file; a header row is needed")
            )
            return
        except csv.Error as exc:
            self.problems.append(problem(self.shown_as, 1, None, f"bad header: {exc}"))
            return
        if len(names) > MAX_COLUMNS:
            self._lost(1, f"{len(names)} columns, more than {MAX_COLUMNS}; is it the right file?")
            return
        self.header = self._index(names)
        self.names = [name.strip() for name in names]
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._lost(start, f"unreadable row: {exc}")
                start = reader.line_num + 1
                continue
            end = reader.line_num
            if cells and any(cells):
                yield cells, start, end == start
            start = end + 1

    def _index(self, names: list[str]) -> dict[str, int]:
        header: dict[str, int] = {}
        for i, name in enumerate(names):
            name = name.strip()
            if name in header:
                self.problems.append(
                    problem(
                        self.shown_as,
                        1,
                        column_offset(",".join(names), i),
                        f"column '{name}' appears twice; rename one",
                    )
                )
            elif name:
                header[name] = i
        return header

    def require(self, *columns: str) -> bool:
        missing = [c for c in columns if c not in self.header]
        if missing:
            names = ", ".join(missing)
            self.problems.append(
                problem(
                    self.shown_as,
                    1,
                    None,
                    f"missing column {names}; the header has: {', '.join(self.header)}",
                )
            )
        return not missing

    def at(self, row: Row, column: str | int, message: str) -> Problem:
        """A problem pointing at `column` (a name, or an index) of `row`."""
        cells, line, one_line = row
        index = column if isinstance(column, int) else self.header.get(column)
        col = column_offset(_as_written(cells), index) if one_line and index is not None else None
        return problem(self.shown_as, line, col, message)

    def place(self, number: int) -> Location:
        return Location(self.shown_as, number)

    def describe(self, numbers: Sequence[int]) -> str:
        lines = listed([str(n) for n in numbers])
        return f"line {lines}" if len(numbers) == 1 else f"lines {lines}"


def _as_written(cells: list[str]) -> str:
    """The physical line a record came from (csv quotes only where needed, as we do)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def column_offset(raw: str, index: int) -> int | None:
    """1-based character column where field `index` starts in one physical CSV line."""
    field, quoted = 0, False
    if index == 0:
        return 1
    for pos, char in enumerate(raw):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            field += 1
            if field == index:
                return pos + 2
    return None


class _LineTooLong(Refused):
    pass


def _lines(handle: io.TextIOBase) -> Iterator[str]:
    """The file's lines, none longer than MAX_LINE (a line is never read whole before it
    is known to fit)."""
    while line := handle.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE:
            raise _LineTooLong(f"a line longer than {MAX_LINE} characters; is it the right file?")
        yield line


def header_key(name: str) -> str:
    """A column name as compared with the names outreach knows: `Opted Out`, `opted-out` and
    `OPTED_OUT` are all `opted_out`."""
    visible = "".join(
        c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c) != "Cf"
    )
    return re.sub(r"[\s\-.]+", "_", visible.strip().lower()).strip("_")


def cell(row: Row, header: dict[str, int], column: str) -> str:
    cells = row[0]
    index = header.get(column)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()
