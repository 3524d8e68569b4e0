"""Where `outreach preview` spends its time, phase by phase, without a profiler's overhead.

    python benchmarks/preview_phases.py WORKSPACE [--now ISO] [--days 30]

    contacts    load_contacts: contacts.csv into Contact objects (every cell typed and checked,
                addresses parsed for the opt-out and suppression checks)
    purchases   load_purchases: purchases.csv into Purchase tuples
    workspace   load_workspace: all of the above again, plus companies, suppressions, rules,
                templates and the per-contact grouping of purchases
    plan        the preview's planning: rules x contacts, the frequency cap, rendering
    json        the preview's JSON text

The phases are timed in one process, in this order (contacts and purchases are read twice:
alone, then inside the workspace load).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from plan_tick import fresh_store  # sibling script

from outreach.adapters.sources.contacts import load_contacts
from outreach.adapters.sources.data import load_purchases
from outreach.reports import decisions_json
from outreach.services.preview import preview
from outreach.services.workspace import load_workspace
from outreach.terminal import visible_json


def timed(name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {name} | {time.perf_counter() - started:.2f} | {peak:,.0f} |", flush=True)
    return result


def read_alone(data: Path) -> None:
    """The two big files alone (freed on return)."""
    read = timed("contacts", lambda: load_contacts(data / "contacts.csv", "contacts.csv"))
    timed("purchases", lambda: load_purchases(data / "purchases.csv", "p", read.contacts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--now", default="2026-11-22T08:00:00+00:00")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    root, now = args.workspace.resolve(), datetime.fromisoformat(args.now)
    print("| phase | seconds | peak RSS so far MiB |\n|---|--:|--:|")
    fresh_store(root)  # no history left by a daemon run: plans as scale.py's preview does
    read_alone(root / "data")
    workspace = timed("workspace", lambda: load_workspace(root))
    decisions = timed("plan", lambda: preview(workspace, now, args.days))
    timed("json", lambda: visible_json(decisions_json(decisions)))
    print(f"{len(decisions):,} items")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
