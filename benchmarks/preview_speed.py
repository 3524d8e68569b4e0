"""Time ``outreach preview`` on a large generated workspace.

    python benchmarks/preview_speed.py [--workspace DIR] [--days 30] [--now ISO] [--profile]

Generates the workspace first (benchmarks/generate_workspace.py, default size) when DIR does
not exist. Prints data size, wall time, the child's peak RSS and the planned items by status.
With ``--profile`` the same command runs under ``cProfile`` and the top of the cumulative
listing is printed as well (timings then include the profiler's overhead).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generate_workspace import generate  # sibling script; its folder is on sys.path

REPO = Path(__file__).resolve().parent.parent
PROFILE_LINES = 30


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str


def outreach_command() -> list[str]:
    """The ``outreach`` console script next to this interpreter, else ``python -m outreach``."""
    script = Path(sys.executable).with_name("outreach")
    if script.is_file():
        return [str(script)]
    if importlib.util.find_spec("outreach") is not None:
        return [sys.executable, "-m", "outreach"]
    sys.exit(
        f"preview_speed: `outreach` is not installed for {sys.executable}\n"
        f"  install it with: {sys.executable} -m pip install -e {REPO}"
    )


def profiled(command: list[str]) -> list[str]:
    """The same command under cProfile, sorted by cumulative time."""
    target = ["-m", "outreach", *command[3:]] if command[1:3] == ["-m", "outreach"] else command
    return [sys.executable, "-m", "cProfile", "-s", "cumulative", *target]


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def run(command: list[str]) -> Run:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return Run(seconds, peak_kib / 1024, done.returncode, done.stdout, done.stderr)


def statuses(path: Path) -> Counter[str]:
    items = json.loads(path.read_text(encoding="utf-8"))
    return Counter(str(item.get("status")) for item in items)


def profile_top(stdout: str, lines: int = PROFILE_LINES) -> str:
    """The header and the first ``lines`` rows of cProfile's listing in ``stdout``."""
    text = stdout.splitlines()
    start = next((i for i, line in enumerate(text) if "ncalls" in line), None)
    if start is None:
        return "(no cProfile listing in the output)"
    return "\n".join(text[start : start + lines + 1])


def ensure_workspace(workspace: Path) -> None:
    if workspace.exists():
        return
    print(f"generating {workspace} (default size) ...", flush=True)
    started = time.perf_counter()
    generate(workspace)
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=REPO / "bench-workspace")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--now", default="2026-11-22T08:00:00+00:00")
    parser.add_argument("--profile", action="store_true", help="run under cProfile")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workspace = args.workspace.resolve()
    command = outreach_command()
    ensure_workspace(workspace)
    handle, name = tempfile.mkstemp(prefix="outreach-preview-", suffix=".json")
    os.close(handle)
    out = Path(name)
    command += [
        "preview", "--workspace", str(workspace), "--days", str(args.days),
        "--now", args.now, "--format", "json", "--out", str(out),
    ]  # fmt: skip
    result = run(profiled(command) if args.profile else command)
    if result.returncode != 0 or out.stat().st_size == 0:
        print(f"outreach preview exited {result.returncode}:\n{result.stderr[-3000:]}")
        if out.stat().st_size == 0:
            out.unlink()
            return 1
    counts = statuses(out)
    print(f"contacts   {count_rows(workspace / 'data' / 'contacts.csv'):>12,}")
    print(f"purchases  {count_rows(workspace / 'data' / 'purchases.csv'):>12,}")
    print(f"days       {args.days:>12}   (from {args.now})")
    print(f"wall       {result.seconds:>12.2f} s" + ("  (under cProfile)" if args.profile else ""))
    print(f"peak RSS   {result.peak_mib:>12.1f} MiB")
    print(f"items      {sum(counts.values()):>12,}   ({out})")
    for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {status:<16} {n:>10,}")
    if args.profile:
        print(profile_top(result.stdout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
