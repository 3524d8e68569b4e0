"""`scale.py --postgres` against a throwaway PostgreSQL server started for the run, as the
test suite starts its own (tests/postgres.py: initdb and pg_ctl from /usr/lib/postgresql/*/bin
or PATH, a temporary folder, fsync off), stopped at the end.

    python benchmarks/scale_on_postgres.py --sizes 10k,100k --dir /tmp/bench-scale --preview-only

Every argument goes to scale.py; `--postgres URL` is added.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]

import postgres  # noqa: E402  (tests/postgres.py)
import scale  # noqa: E402


def main() -> int:
    with postgres.running_server() as server:
        os.environ["PGPASSWORD"] = postgres.PASSWORD
        server.execute("CREATE DATABASE bench")
        return scale.main([*sys.argv[1:], "--postgres", server.url("bench")])


if __name__ == "__main__":
    raise SystemExit(main())
