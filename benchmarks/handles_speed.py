"""What handles cost `queue list`, `history` and the queue commands on a large outbox.

    python benchmarks/handles_speed.py [--rows 100000]

Builds a real SQLite store (in a temporary folder) holding N outbox rows with keys shaped like
real ones (`rule:contact:year`), then times, as the commands do them: the handles of the rows
a table shows (50, and 1,000: unique among every row of the outbox, read from the index of
key digests), and a handle resolved to its key (`queue approve HANDLE`). Also the range of
handle lengths over the whole outbox.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from outreach.adapters.store import SqlStore, outbox
from outreach.adapters.store.schema import outbox as table
from outreach.core.handles import digest, handles
from outreach.services.queue import handles_of
from outreach.services.workspace import load_config


def filled(root: Path, rows: int) -> SqlStore:
    (root / "outreach.yaml").write_text("store: sqlite:///outreach.db\n")
    store = SqlStore.of(load_config(root, []), root)
    assert store is not None
    moment = "2026-06-01T09:00:00+00:00"
    with store.transaction() as connection:
        for start in range(0, rows, 10_000):
            connection.execute(
                insert(table),
                [
                    {"key": (key := f"birthday-note:c-{n:07d}:{2020 + n % 7}"),
                     "digest": digest(key), "rule_id": "birthday-note", "contact_id": f"c-{n}",
                     "action": "email", "channel": "email", "status": "sent",
                     "send_at": moment, "payload": json.dumps({"details": {}}), "attempts": 1,
                     "doubtful": 0, "created_at": moment, "updated_at": moment}
                    for n in range(start, min(rows, start + 10_000))
                ],
            )  # fmt: skip
    return store


def timed(work) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = work()
    return (time.perf_counter() - began) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = filled(Path(folder), args.rows)
        with store.engine.connect() as connection:
            rows = list(outbox.rows(connection))
        print(f"{args.rows:,} outbox rows")
        for shown in (50, 1000):
            took, found = timed(lambda n=shown: handles_of(store, rows[:n]))
            print(f"handles of the {shown:,} rows a table shows: {took:.0f} ms")
        handle = found[rows[0].key]  # type: ignore[index]
        with store.engine.connect() as connection:
            took, match = timed(lambda: outbox.digests_from(connection, handle))
        assert list(match) == [rows[0].key]  # type: ignore[call-overload]
        print(f"a handle resolved to its key: {took:.1f} ms")
        lengths = [len(h) for h in handles([r.key for r in rows], [r.key for r in rows]).values()]
        print(f"handle length: {min(lengths)} to {max(lengths)} characters")
        store.engine.dispose()


if __name__ == "__main__":
    main()
