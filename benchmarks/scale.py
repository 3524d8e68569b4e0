"""How the engine grows with the number of clients: preview and the daemon's planning ticks at
10k / 100k / 1M clients with 10 purchases each.

    python benchmarks/scale.py [--sizes 10k,100k] [--dir DIR] [--now ISO] [--days 30]
                               [--profile 100k] [--ignore-memory-check] [--postgres URL]
                               [--preview-only]

For each size a workspace is generated once into DIR/<size> (benchmarks/generate_workspace.py,
seed 7, deterministic) and reused later. Then, each in a child process of its own:

    preview   `outreach preview --days 30 --now ... --format json`: wall time and peak RSS
    daemon    benchmarks/plan_tick.py: the daemon's start, its first planning tick, a planning
              tick with nothing changed, and the reload and planning tick after 1,000 new
              purchases appended to purchases.csv; the daemon process's peak RSS

A step whose estimated peak RSS (scaled from the largest size measured before it in the same
run, else from KIB_PER_CLIENT) exceeds half the memory available now is skipped with a
message, not run: the machine is shared. The daemon's reload needs twice its steady memory
(it holds the old workspace and the new one): when only the reload does not fit, the daemon's
other ticks still run. `--ignore-memory-check` runs every step anyway. (A 1M workspace takes
~1 min to generate and ~700 MB on disk.)

`--profile SIZE` also runs that size's preview under cProfile and prints the top of the
cumulative listing (its wall time then includes the profiler's overhead).

`--postgres URL` also loads each workspace into PostgreSQL with COPY (`copy_into_postgres`,
tables of the files' columns), writes DIR/<size>-postgres, the same workspace reading its
contacts, purchases and suppressions from those tables (`postgres_workspace`: data.<kind> as
a SQL source), and times its preview like the files' one (and says whether both previews are
the same, byte for byte). The password goes in PGPASSWORD.

`--preview-only` skips the daemon's ticks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plan_tick import fresh_store  # sibling scripts; their folder is on sys.path
from preview_speed import outreach_command, profile_top, profiled

HERE = Path(__file__).resolve().parent
PURCHASES_PER_CLIENT = 10
SEED = 7
NEW_PURCHASES = 1_000
# Peak RSS per client when nothing was measured yet (100k: preview ~6.3, daemon ~12: a reload
# holds the old workspace and the new one at once).
KIB_PER_CLIENT = {"preview": 7.0, "daemon": 13.0, "ticks": 7.0}
MEMORY_SHARE = 0.5  # of MemAvailable a run may expect to take


@dataclass(frozen=True)
class Child:
    seconds: float
    peak_mib: float
    stdout: str
    stderr: str
    returncode: int


@dataclass
class Result:
    size: str
    clients: int
    preview: Child | None = None
    items: Counter[str] = field(default_factory=Counter)
    daemon: dict[str, dict[str, float]] = field(default_factory=dict)
    daemon_peak_mib: float = 0.0
    skipped: str = ""


def clients_of(size: str) -> int:
    """'10k' -> 10_000, '1m' -> 1_000_000, '2500' -> 2_500."""
    text = size.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"'{size}' is not a size such as 10k, 100k or 1m")
    return int(number) * scale


def run_child(command: Sequence[str]) -> Child:
    """Run `command`; its wall time and its own peak RSS (wait4's rusage is this child's
    alone, unlike RUSAGE_CHILDREN, which keeps the largest child ever waited for)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(), err.read().decode()
    return Child(seconds, usage.ru_maxrss / 1024, *text, child.returncode)


def own_mib() -> float:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def available_mib() -> float:
    lines = Path("/proc/meminfo").read_text(encoding="ascii").splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    return int(fields["MemAvailable"].split()[0]) / 1024


def estimated_mib(clients: int, done: Sequence[Result], step: str) -> float:
    """Peak RSS `step` may need at `clients` ("preview"; "daemon"; "ticks": the daemon without
    a reload), scaled linearly from the largest size measured before, with a tenth to spare."""
    measured = [r for r in done if r.preview is not None and r.daemon]
    if not measured:
        return clients * KIB_PER_CLIENT[step] / 1024
    base = max(measured, key=lambda r: r.clients)
    peaks = {"daemon": base.daemon_peak_mib, "ticks": base.daemon["first"]["peak_mib"]}
    peak = base.preview.peak_mib if step == "preview" and base.preview else peaks[step]
    return peak * clients / base.clients * 1.1


def too_big(size: str, clients: int, done: Sequence[Result], step: str) -> str:
    """Why `step` is not run at this size, or "" to run it."""
    need, free = estimated_mib(clients, done, step), available_mib()
    if need <= free * MEMORY_SHARE:
        return ""
    what = {"daemon": "reload after new purchases"}.get(step, step)
    why = f"{what} skipped: needs ~{need:,.0f} MiB, {free:,.0f} MiB available now"
    print(f"[{size}] {why} (--ignore-memory-check runs it anyway)", flush=True)
    return why


def workspace(root: Path, size: str, clients: int) -> Path:
    """The generated workspace of `size`, made once: a marker says it is complete."""
    folder = root / size
    marker = folder / ".generated"
    wanted = f"{clients} {clients * PURCHASES_PER_CLIENT} {SEED}"
    if marker.exists() and marker.read_text() == wanted:
        return folder
    print(f"[{size}] generating {clients:,} clients ...", flush=True)
    purchases = clients * PURCHASES_PER_CLIENT
    options = ["--contacts", str(clients), "--purchases", str(purchases), "--seed", str(SEED)]
    # In a child: this process stays small (a child's peak RSS counts the pages it shared
    # with its parent before exec).
    child = run_child([sys.executable, str(HERE / "generate_workspace.py"), str(folder), *options])
    if child.returncode != 0:
        sys.exit(f"generate_workspace exited {child.returncode}:\n{child.stderr[-3000:]}")
    marker.write_text(wanted)
    print(f"[{size}] generated in {child.seconds:.1f} s, {child.peak_mib:,.0f} MiB", flush=True)
    return folder


def preview(folder: Path, now: str, days: int, profile: bool) -> tuple[Child, Counter[str]]:
    out = folder / "preview.json"
    fresh_store(folder)  # no history left by a daemon run: every preview plans the same
    command = [
        *outreach_command(), "preview", "--workspace", str(folder), "--days", str(days),
        "--now", now, "--format", "json", "--out", str(out),
    ]  # fmt: skip
    child = run_child(profiled(command) if profile else command)
    if child.returncode != 0:
        sys.exit(f"outreach preview exited {child.returncode}:\n{child.stderr[-3000:]}")
    items = json.loads(out.read_text(encoding="utf-8"))
    return child, Counter(str(item.get("status")) for item in items)


def daemon(folder: Path, now: str, new_purchases: int) -> tuple[dict[str, Any], float]:
    script = str(HERE / "plan_tick.py")
    options = ["--now", now, "--new-purchases", str(new_purchases)]
    child = run_child([sys.executable, script, str(folder), *options])
    fresh_store(folder)
    if child.returncode != 0:
        sys.exit(f"plan_tick exited {child.returncode}:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout), child.peak_mib


def measure(size: str, root: Path, args: argparse.Namespace, done: Sequence[Result]) -> Result:
    result = Result(size, clients_of(size))
    check = not args.ignore_memory_check
    if check and (why := too_big(size, result.clients, done, "preview")):
        result.skipped = why
        return result
    folder = workspace(root, size, result.clients)
    print(f"[{size}] preview ...", flush=True)
    result.preview, result.items = preview(folder, args.now, args.days, profile=False)
    if size in args.profile:
        print(f"[{size}] preview under cProfile ...", flush=True)
        child, _ = preview(folder, args.now, args.days, profile=True)
        print(f"[{size}] under cProfile: {child.seconds:.1f} s\n{profile_top(child.stdout, 40)}")
    if args.preview_only:
        return result
    new_purchases = NEW_PURCHASES
    if check and (why := too_big(size, result.clients, done, "daemon")):
        result.skipped = why
        if too_big(size, result.clients, done, "ticks"):
            return result
        new_purchases = 0
    print(f"[{size}] daemon ticks ...", flush=True)
    result.daemon, result.daemon_peak_mib = daemon(folder, args.now, new_purchases)
    return result


def row(result: Result) -> str:
    cells = [result.size, f"{result.clients:,}", f"{result.clients * PURCHASES_PER_CLIENT:,}"]
    if result.preview is not None:
        cells += [
            f"{result.preview.seconds:.1f}",
            f"{result.preview.peak_mib:,.0f}",
            f"{sum(result.items.values()):,}",
        ]
    if d := result.daemon:
        cells += [
            f"{d['start']['seconds']:.1f}",
            f"{d['first']['seconds']:.2f}",
            f"{d['steady']['seconds']:.2f}",
            f"{d['reload']['seconds']:.2f} + {d['after']['seconds']:.2f}" if "reload" in d else "-",
            f"{d['steady']['rss_mib']:,.0f}",
            f"{result.daemon_peak_mib:,.0f}",
        ]
    return "| " + " | ".join([*cells, result.skipped] if result.skipped else cells) + " |"


HEADER = (
    "| size | clients | purchases | preview s | preview peak MiB | items | daemon start s "
    "| first tick s | steady tick s | 1,000 new purchases: reload + tick s "
    "| daemon RSS MiB | daemon peak MiB |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
)


def copy_into_postgres(folder: Path, url: str) -> dict[str, int]:
    """Load a generated workspace's CSV files into PostgreSQL with COPY: one table per data
    kind (contacts, purchases, suppressions), the files' columns as text, replaced if present.
    Returns rows per table. `url` as a store names it (postgresql+psycopg://user@host/db; the
    password in PGPASSWORD). Needs psycopg 3 (`pip install 'outreach[postgres]'`)."""
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        for kind in ("contacts", "purchases", "suppressions"):
            path = folder / "data" / f"{kind}.csv"
            with path.open(encoding="utf-8") as fh:
                columns = fh.readline().strip().split(",")
            listed = ", ".join(f'"{c}" text' for c in columns)
            connection.execute(f'DROP TABLE IF EXISTS "{kind}"')
            connection.execute(f'CREATE TABLE "{kind}" ({listed})')
            with (
                connection.cursor().copy(
                    f'COPY "{kind}" FROM STDIN WITH (FORMAT csv, HEADER true)'
                ) as copy,
                path.open("rb") as fh,
            ):
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            found = connection.execute(f'SELECT count(*) FROM "{kind}"').fetchone()
            counts[kind] = int(found[0]) if found else 0
    return counts


def postgres_workspace(folder: Path, url: str) -> Path:
    """DIR/<size>-postgres: the generated workspace, its contacts, purchases and suppressions
    read from the tables `copy_into_postgres` made (the files' column names: no mapping)."""
    import yaml

    target = folder.with_name(f"{folder.name}-postgres")
    shutil.rmtree(target, ignore_errors=True)
    for name in ("rules", "templates"):
        shutil.copytree(folder / name, target / name)
    (target / "data").mkdir()
    for name in ("companies.yaml", "feeds.yaml"):
        if (folder / "data" / name).exists():
            shutil.copy(folder / "data" / name, target / "data" / name)
    config = yaml.safe_load((folder / "outreach.yaml").read_text(encoding="utf-8"))
    for kind in ("contacts", "purchases", "suppressions"):
        config["data"][kind] = {"sql": url, "table": kind, "batch_rows": 20_000}
    (target / "outreach.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return target


def from_postgres(size: str, root: Path, args: argparse.Namespace) -> None:
    """COPY the workspace of `size` into PostgreSQL, then time the preview reading it there."""
    folder = root / size
    started = time.perf_counter()
    counts = copy_into_postgres(folder, args.postgres)
    seconds = time.perf_counter() - started
    print(f"[{size}] COPY into PostgreSQL: {counts} in {seconds:.1f} s", flush=True)
    target = postgres_workspace(folder, args.postgres)
    print(f"[{size}] preview from PostgreSQL ...", flush=True)
    child, items = preview(target, args.now, args.days, profile=False)
    same = (target / "preview.json").read_bytes() == (folder / "preview.json").read_bytes()
    print(
        f"[{size}] preview from PostgreSQL: {child.seconds:.1f} s, peak {child.peak_mib:,.0f} "
        f"MiB, {sum(items.values()):,} items, the same as from files: {same}",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated, e.g. 10k,100k,1m")
    parser.add_argument("--dir", type=Path, default=HERE.parent / "bench-scale")
    parser.add_argument("--now", default="2026-11-22T08:00:00+00:00")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--profile", default="", help="sizes to profile too, e.g. 100k")
    parser.add_argument("--ignore-memory-check", action="store_true")
    parser.add_argument(
        "--postgres", metavar="URL", help="also COPY each workspace into it, and preview there"
    )
    parser.add_argument("--preview-only", action="store_true", help="no daemon ticks")
    args = parser.parse_args(argv)
    args.sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    args.profile = {s.strip().lower() for s in args.profile.split(",") if s.strip()}
    try:
        for size in args.sizes:
            clients_of(size)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    for size in args.sizes:
        results.append(measure(size, args.dir.resolve(), args, results))
        if args.postgres and results[-1].preview is not None:
            from_postgres(size, args.dir.resolve(), args)
    print(
        f"\n{os.cpu_count()} cores, {available_mib():,.0f} MiB available; --now {args.now}; "
        f"this process's RSS {own_mib():,.0f} MiB (counted in each child's peak)"
    )
    print(HEADER)
    for result in results:
        print(row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
