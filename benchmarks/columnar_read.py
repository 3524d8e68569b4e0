"""What reading a workspace's CSV files costs, today's way and with an embedded columnar engine:
input for choosing how planning should find what is due (issue 11).

    python benchmarks/columnar_read.py WORKSPACE [--ways today,duckdb,pyarrow,polars]

Each way runs in a child process of its own (wall time and that child's peak RSS) and answers
the same questions over data/contacts.csv and data/purchases.csv:

    aggregates  per contact: number of purchases, lifetime total, last purchase date
    birthdays   contacts whose birthday (YYYY-MM-DD or MM-DD) falls on 11-22 .. 12-22
    recent      purchases dated on or after 2026-11-01 (what a tick since then would look at)

    today     outreach's own loaders (load_contacts, load_purchases: an object per row, every
              cell checked), then the three answers in Python
    csv       the floor of any row-by-row Python reader: csv.reader over both files, no objects
    sqlite    the files imported into an SQLite file (csv.reader, executemany; indexed on
              contact_id, birthday's month-day and date), then SQL: the "store indexes" option
    duckdb    DuckDB SQL over the CSV files (read_csv, all columns as text)
    pyarrow   pyarrow.csv + pyarrow.compute
    polars    polars' lazy scan_csv

duckdb, pyarrow and polars are not dependencies of outreach: `pip install duckdb pyarrow
polars` to try them (a way whose package is missing is reported and skipped).
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

WAYS = ("today", "csv", "sqlite", "duckdb", "pyarrow", "polars")
SINCE = "2026-11-01"
FROM_DAY, TO_DAY = "11-22", "12-22"  # month-day window, not wrapping the year


def answers(aggregated: int, birthdays: int, recent: int) -> dict[str, int]:
    return {"contacts with purchases": aggregated, "birthdays": birthdays, "recent": recent}


def in_window(birthday: str) -> bool:
    return FROM_DAY <= birthday[-5:] <= TO_DAY if birthday else False


def today(root: Path) -> dict[str, int]:
    from outreach.adapters.sources.contacts import load_contacts
    from outreach.adapters.sources.data import load_purchases

    contacts = load_contacts(root / "data" / "contacts.csv", "contacts.csv").contacts
    purchases, _ = load_purchases(root / "data" / "purchases.csv", "purchases.csv", contacts)
    totals: dict[str, tuple[int, Decimal, date]] = {}
    for p in purchases:
        n, total, last = totals.get(p.contact_id, (0, Decimal(0), p.date))
        totals[p.contact_id] = (n + 1, total + p.amount, max(last, p.date))
    since = date.fromisoformat(SINCE)
    born = sum(
        1
        for c in contacts.values()
        if c.birthday is not None and in_window(f"{c.birthday.month:02d}-{c.birthday.day:02d}")
    )
    return answers(len(totals), born, sum(1 for p in purchases if p.date >= since))


def plain_csv(root: Path) -> dict[str, int]:
    totals: dict[str, tuple[int, float, str]] = {}
    recent = 0
    with (root / "data" / "purchases.csv").open(newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        next(rows)
        for _, contact, day, amount, _, _ in rows:
            n, total, last = totals.get(contact, (0, 0.0, day))
            totals[contact] = (n + 1, total + float(amount), max(last, day))
            recent += day >= SINCE
    with (root / "data" / "contacts.csv").open(newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        column = next(rows).index("birthday")
        born = sum(1 for row in rows if in_window(row[column]))
    return answers(len(totals), born, recent)


def sqlite_way(root: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "data.db")
        db.executescript(SQLITE_TABLES)
        with (root / "data" / "purchases.csv").open(newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows)
            db.executemany("INSERT INTO purchases VALUES (?, ?, ?, ?, ?, ?)", rows)
        with (root / "data" / "contacts.csv").open(newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            column = next(rows).index("birthday")
            people = ((row[0], row[column][-5:]) for row in rows)
            db.executemany("INSERT INTO contacts VALUES (?, ?)", people)
        db.executescript(SQLITE_INDEXES)
        aggregated = db.execute(
            "SELECT contact_id, count(*), sum(amount), max(date) FROM purchases GROUP BY 1"
        ).fetchall()
        born = db.execute(
            "SELECT count(*) FROM contacts WHERE month_day BETWEEN ? AND ?", (FROM_DAY, TO_DAY)
        ).fetchone()[0]
        recent = db.execute("SELECT count(*) FROM purchases WHERE date >= ?", (SINCE,))
        found = answers(len(aggregated), born, recent.fetchone()[0])
        db.close()
        return found


SQLITE_TABLES = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE purchases (id TEXT, contact_id TEXT, date TEXT, amount REAL, currency TEXT,
                        product TEXT);
CREATE TABLE contacts (id TEXT, month_day TEXT);
"""
SQLITE_INDEXES = """
CREATE INDEX purchases_contact ON purchases (contact_id, date);
CREATE INDEX purchases_date ON purchases (date);
CREATE INDEX contacts_month_day ON contacts (month_day);
"""


def duckdb_way(root: Path) -> dict[str, int]:
    import duckdb

    purchases = f"read_csv('{root / 'data' / 'purchases.csv'}', all_varchar = true)"
    contacts = f"read_csv('{root / 'data' / 'contacts.csv'}', all_varchar = true)"
    db = duckdb.connect()
    aggregated = db.execute(
        f"SELECT contact_id, count(*), sum(amount::DECIMAL(18, 2)), max(date::DATE) "
        f"FROM {purchases} GROUP BY contact_id"
    ).fetchall()
    born = db.execute(
        f"SELECT count(*) FROM {contacts} WHERE birthday <> '' "
        f"AND right(birthday, 5) BETWEEN '{FROM_DAY}' AND '{TO_DAY}'"
    ).fetchone()
    recent = db.execute(f"SELECT count(*) FROM {purchases} WHERE date >= '{SINCE}'").fetchone()
    return answers(len(aggregated), int(born[0]) if born else 0, int(recent[0]) if recent else 0)


def pyarrow_way(root: Path) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    dates = pacsv.ConvertOptions(column_types={"date": pa.string()})
    purchases = pacsv.read_csv(root / "data" / "purchases.csv", convert_options=dates)
    birthdays = pacsv.ConvertOptions(
        include_columns=["id", "birthday"],
        column_types={"birthday": pa.string()},
        strings_can_be_null=False,
    )
    contacts = pacsv.read_csv(root / "data" / "contacts.csv", convert_options=birthdays)
    aggregated = purchases.group_by("contact_id").aggregate(
        [("id", "count"), ("amount", "sum"), ("date", "max")]
    )
    day = pc.utf8_slice_codeunits(pc.fill_null(contacts["birthday"], ""), -5)
    born = pc.and_(pc.greater_equal(day, FROM_DAY), pc.less_equal(day, TO_DAY))
    recent = pc.greater_equal(purchases["date"], SINCE)
    return answers(aggregated.num_rows, pc.sum(born).as_py() or 0, pc.sum(recent).as_py() or 0)


def polars_way(root: Path) -> dict[str, int]:
    import polars as pl

    purchases = pl.scan_csv(root / "data" / "purchases.csv", infer_schema=False)
    contacts = pl.scan_csv(root / "data" / "contacts.csv", infer_schema=False)
    aggregated = (
        purchases.group_by("contact_id")
        .agg(
            pl.len(),
            pl.col("amount").cast(pl.Decimal(18, 2)).sum(),
            pl.col("date").str.to_date().max(),
        )
        .collect()
    )
    day = pl.col("birthday").fill_null("").str.slice(-5)
    in_window = day.is_between(pl.lit(FROM_DAY), pl.lit(TO_DAY))
    born = contacts.filter(in_window).select(pl.len()).collect()
    recent = purchases.filter(pl.col("date") >= SINCE).select(pl.len()).collect()
    return answers(aggregated.height, born.item(), recent.item())


RUNS: dict[str, Callable[[Path], dict[str, int]]] = {
    "today": today,
    "csv": plain_csv,
    "sqlite": sqlite_way,
    "duckdb": duckdb_way,
    "pyarrow": pyarrow_way,
    "polars": polars_way,
}


def one(way: str, root: Path) -> int:
    """In the child: run one way, print its seconds and answers as JSON."""
    started = time.perf_counter()
    try:
        found = RUNS[way](root)
    except ImportError as exc:
        print(json.dumps({"missing": str(exc)}))
        return 0
    print(json.dumps({"seconds": time.perf_counter() - started, "answers": found}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.workspace.resolve()
    if args.one:
        return one(args.one, root)
    from scale import run_child  # sibling script

    size = (root / "data" / "purchases.csv").stat().st_size / 2**20
    print(f"{root}: purchases.csv {size:,.0f} MiB")
    print("| way | seconds | peak RSS MiB | answers |\n|---|--:|--:|---|")
    for way in args.ways.split(","):
        child = run_child([sys.executable, __file__, str(root), "--one", way.strip()])
        if child.returncode != 0:
            print(f"| {way} | failed: {child.stderr.strip().splitlines()[-1:]} | | |")
            continue
        out = json.loads(child.stdout)
        if "missing" in out:
            print(f"| {way} | not installed ({out['missing']}) | | |")
            continue
        print(f"| {way} | {out['seconds']:.2f} | {child.peak_mib:,.0f} | {out['answers']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
