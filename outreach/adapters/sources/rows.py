"""The one seam between where rows come from and the loaders that parse them.

A row source yields records as text cells under a header (`Row`: cells, a number, whether
its columns can be pointed at), and says where a record is when something is wrong with it:

    CsvFile   a file; a record is its line      contacts.csv:17:32
    SqlRows   a table or query; a row its key   postgresql://crm/crm crm.clients[client_id=c-17]

The loaders (contacts, purchases, suppressions) read any of them the same way, so every rule
of the file path (opt-outs fail closed, duplicate ids withheld, located errors) holds for a
database too. `rows()` is also the raw stream a columnar reader can take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from outreach.core.problems import Location, Problem

# A record: its cells, its number (a file's line; a query's row, counted from 1), and
# whether it fits on that one line (then its columns can be pointed at). A plain tuple:
# millions are made, and tuples are made fastest.
Row = tuple[list[str], int, bool]


class RowSource(Protocol):
    shown_as: str  # the source as messages name it
    header: dict[str, int]  # our column name -> index in a row's cells
    names: list[str]  # every column's name, by index ("" for unnamed ones)
    problems: list[Problem]  # trouble with the source as a whole, or its header
    # Why part of it was not read (an unreadable row, a lost connection): what is missing
    # could have said anything, an opt-out among it.
    incomplete: str | None

    def rows(self) -> Iterator[Row]:
        """The records after the header (which `header` and `names` hold once one came)."""
        ...

    def require(self, *columns: str) -> bool:
        """Whether the source has these columns; a problem saying which are missing if not."""
        ...

    def at(self, row: Row, column: str | int, message: str) -> Problem:
        """A problem pointing at `column` (our name, or an index) of `row`."""
        ...

    def place(self, number: int) -> Location:
        """Where the record with this number is, for a problem about it as a whole."""
        ...

    def describe(self, numbers: Sequence[int]) -> str:
        """Records named in a sentence: `line 17`, `lines 3, 9`, `row client_id=c-17`."""
        ...


def listed(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
