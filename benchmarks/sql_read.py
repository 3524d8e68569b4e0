"""Reading a SQL source's rows out of PostgreSQL: the row stream the loaders take (`SqlRows`,
a server-side cursor fetched in batches) against the COPY fast path (`copy_csv`, CSV written
by the server) for a columnar reader, on a throwaway server started as the tests start theirs.

    python benchmarks/sql_read.py [--rows 1000000] [--batch 20000]

Prints seconds for: SqlRows, every row's cells built; copy_csv into a temporary file; and
copy_csv then csv.reader over the file (cells built again, as SqlRows gives them).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

import postgres  # noqa: E402  (tests/postgres.py)

from outreach.adapters.sources.sql import SqlRows, sql_place  # noqa: E402
from outreach.adapters.sources.sql_copy import copy_csv  # noqa: E402
from outreach.core.config import PurchasesSql  # noqa: E402

TABLE = (
    "CREATE TABLE purchases AS SELECT 'p-' || g AS id, 'c-' || (g % 100000) AS contact_id, "
    "date '2020-01-01' + (g % 2000) AS date, (g % 90000) / 100.0 AS amount, "
    "'EUR'::text AS currency, 'Spare parts kit'::text AS product FROM generate_series(1, {n}) g"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    with postgres.running_server() as server:
        os.environ["PGPASSWORD"] = postgres.PASSWORD
        server.execute("CREATE DATABASE bench")
        url = server.url("bench")
        import psycopg

        with psycopg.connect(url.replace("+psycopg", "")) as connection:
            connection.execute(TABLE.format(n=int(args.rows)))
        setting = PurchasesSql(sql=url, table="purchases", batch_rows=args.batch)
        place = sql_place("purchases", setting, ROOT, (), os.environ, "id")
        print(f"{args.rows:,} rows (id, contact_id, date, numeric amount, currency, product)")
        started = time.perf_counter()
        count = sum(1 for _ in SqlRows(place).rows())
        print(
            f"SqlRows, cells of every row:        {time.perf_counter() - started:6.2f} s {count:,}"
        )
        with tempfile.TemporaryFile() as out:
            started = time.perf_counter()
            copy_csv(place, out)
            copied = time.perf_counter() - started
            print(f"copy_csv into a file:               {copied:6.2f} s {out.tell():,} bytes")
            out.seek(0)
            with open(out.fileno(), encoding="utf-8", newline="", closefd=False) as text:
                count = sum(1 for _ in csv.reader(text)) - 1
            total = time.perf_counter() - started
            print(f"copy_csv, then csv.reader's cells:  {total:6.2f} s {count:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
