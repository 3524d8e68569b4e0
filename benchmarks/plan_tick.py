"""Time the daemon's planning ticks on a workspace, in this process, as `outreach daemon` runs
them (`Runtime.start`, then `Runtime.tick("plan", runtime.plan)`; `watch` for an edit).

    python benchmarks/plan_tick.py WORKSPACE [--now ISO] [--steady 3] [--new-purchases 1000]

WORKSPACE's store (`outreach.db`) is replaced by a fresh one. The phases, in order:

    start    load the workspace and open the store (the daemon's start)
    first    the first planning tick: records everything due at --now
    steady   planning ticks with nothing changed (the fastest of --steady)
    idle     a watch tick with nothing changed
    reload   the watch tick that takes N purchases appended to purchases.csv (dated --now's day)
    after    the planning tick after them (neither with --new-purchases 0: a reload holds the
             old workspace and the new one at once, twice the memory)

Prints one JSON object: each phase's seconds, this process's current RSS after it and its peak
RSS so far (MiB; peak RSS only grows, so a phase's peak includes all the phases before it);
also the rows a planning tick recorded, and the purchases the daemon holds after start and
after reload. purchases.csv is restored afterwards, even on failure (and on SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outreach.clock import fixed_clock

if TYPE_CHECKING:
    from outreach.services.runtime import Runtime

PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def current_mib() -> float:
    resident = Path("/proc/self/statm").read_text(encoding="ascii").split()[1]
    return int(resident) * PAGE_MIB


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measured(work: Callable[[], Any]) -> dict[str, float]:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "rss_mib": current_mib(), "peak_mib": peak_mib()}


def fresh_store(root: Path) -> None:
    """Forget the store a previous run left, so that every run starts alike."""
    for path in root.glob("outreach.db*"):
        path.unlink()
    shutil.rmtree(root / ".outreach", ignore_errors=True)


def purchases_held(runtime: Runtime) -> int:
    return sum(map(len, runtime.workspace.data.purchases.values()))


def new_purchases(root: Path, count: int, day: str) -> list[str]:
    """`count` purchases spread evenly over the contacts (in file order), dated `day`."""
    with (root / "data" / "contacts.csv").open(encoding="utf-8") as fh:
        next(fh)
        ids = [line.split(",", 1)[0] for line in fh]
    step = max(len(ids) // count, 1)
    return [
        f"p-tick-{n:05d},{ids[(n * step) % len(ids)]},{day},{25 + n % 50}.00,EUR,Ink set\n"
        for n in range(count)
    ]


@contextmanager
def appended(path: Path, lines: Sequence[str]) -> Iterator[None]:
    size = path.stat().st_size
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
        yield
    finally:
        with path.open("r+b") as fh:
            fh.truncate(size)


def ticks(root: Path, now: datetime, steady: int, count: int) -> dict[str, dict[str, float]]:
    # Imported here: scale.py imports this module (fresh_store) and must stay small, for a
    # child's peak RSS counts the pages it shared with its parent before exec.
    from outreach.services.runtime import Runtime

    fresh_store(root)
    box: list[Runtime] = []
    phases = {"start": measured(lambda: box.append(Runtime.start(root, {}, fixed_clock(now))))}
    runtime = box[0]
    phases["start"]["purchases"] = purchases_held(runtime)
    recorded: list[int] = []
    runtime.on_tick = lambda _job, _seconds, report: recorded.append(sum(report.recorded.values()))

    def plan() -> None:
        runtime.tick("plan", runtime.plan)

    phases["first"] = measured(plan) | {"recorded": recorded[-1]}
    phases["steady"] = min((measured(plan) for _ in range(steady)), key=lambda m: m["seconds"])
    phases["idle"] = measured(runtime.watch)
    if count:
        phases |= after_new_purchases(runtime, root, now, count, plan, recorded)
    runtime.store.engine.dispose()
    return phases


def after_new_purchases(
    runtime: Runtime,
    root: Path,
    now: datetime,
    count: int,
    plan: Callable[[], None],
    recorded: list[int],
) -> dict[str, dict[str, float]]:
    phases: dict[str, dict[str, float]] = {}
    purchases = root / "data" / "purchases.csv"
    with appended(purchases, new_purchases(root, count, now.date().isoformat())):
        runtime.watch()  # the first look notices the change; the next one takes it
        reloaded: list[bool] = []
        phases["reload"] = measured(lambda: reloaded.append(runtime.watch()))
        if not reloaded[0]:
            raise SystemExit("plan_tick: the daemon did not take the new purchases")
        phases["reload"]["purchases"] = purchases_held(runtime)
        phases["after"] = measured(plan) | {"recorded": recorded[-1]}
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--now", default="2026-11-22T08:00:00+00:00")
    parser.add_argument("--steady", type=int, default=3)
    parser.add_argument("--new-purchases", type=int, default=1_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # purchases.csv is restored first
    now = datetime.fromisoformat(args.now)
    phases = ticks(args.workspace.resolve(), now, args.steady, args.new_purchases)
    print(json.dumps(phases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
