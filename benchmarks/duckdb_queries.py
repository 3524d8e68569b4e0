"""Time, in DuckDB, the questions a planning pass asks of purchases, over a workspace's CSV
file and over a table loaded from it: input for issue 11's choice of engine.

    python benchmarks/duckdb_queries.py WORKSPACE [--start 2026-11-22] [--days 30]

    group        per contact: count, lifetime total, last date, fetched into Python (every
                 contact that ever bought: what a whole re-plan needs)
    milestones   purchases in the window that are a contact's 1st, 10th or 50th, or cross a
                 lifetime total of 1,000 or 10,000 (window functions over all purchases)
    inactivity   contacts whose last purchase + 180 days falls in the window
    recent       purchases dated in the window

Each is run over `read_csv(...)` (the file re-read and parsed every time), then the file is
loaded into a table once and each is run again on it. Needs `pip install duckdb` (not a
dependency of outreach). Prints seconds and rows returned; the process's peak RSS at the end.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

GROUP = "SELECT contact_id, count(*), sum(amount), max(date) FROM {src} GROUP BY contact_id"
MILESTONES = """
WITH ranked AS (
  SELECT contact_id, date, amount,
         row_number() OVER (PARTITION BY contact_id ORDER BY date, id) AS n,
         sum(amount) OVER (PARTITION BY contact_id ORDER BY date, id) AS running
  FROM {src})
SELECT contact_id, date, n FROM ranked
WHERE date BETWEEN $start AND $end
  AND (n IN (1, 10, 50)
       OR (running >= 1000 AND running - amount < 1000)
       OR (running >= 10000 AND running - amount < 10000))
"""
INACTIVITY = (
    "SELECT contact_id FROM {src} GROUP BY contact_id "
    "HAVING max(date) + 180 BETWEEN $start AND $end"
)
RECENT = "SELECT id FROM {src} WHERE date BETWEEN $start AND $end"
QUERIES = {"group": GROUP, "milestones": MILESTONES, "inactivity": INACTIVITY, "recent": RECENT}


def run_all(db: Any, source: str, over: str, window: dict[str, date]) -> None:
    for name, query in QUERIES.items():
        started = time.perf_counter()
        sql = query.format(src=source)
        rows = db.execute(sql, window if "$start" in sql else None).fetchall()
        print(f"| {name} | {over} | {time.perf_counter() - started:.2f} | {len(rows):,} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 22))
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    import duckdb

    path = (args.workspace / "data" / "purchases.csv").resolve()
    csv = f"read_csv('{path}', types = {{'date': 'DATE', 'amount': 'DECIMAL(18, 2)'}})"
    window = {"start": args.start, "end": args.start + timedelta(days=args.days)}
    db = duckdb.connect()
    print(f"{path} ({path.stat().st_size / 2**20:,.0f} MiB)")
    print("| query | over | seconds | rows |\n|---|---|--:|--:|")
    run_all(db, csv, "the CSV file", window)
    started = time.perf_counter()
    db.execute(f"CREATE TABLE purchases AS SELECT * FROM {csv}")
    print(f"| load into a table | the CSV file | {time.perf_counter() - started:.2f} | |")
    run_all(db, "purchases", "a table", window)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
