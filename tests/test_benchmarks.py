"""The scale benchmark's instruments work, on a workspace of a few hundred clients: what they
measure is figures for BENCHMARKS.md, never asserted here; that they measure the right thing
(and leave the workspace as they found it) is."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from generate_workspace import generate  # noqa: E402  (a script folder, not a package)
from scale import clients_of, copy_into_postgres  # noqa: E402


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_a_planning_tick_takes_new_purchases_and_restores_the_file(tmp_path: Path):
    generate(tmp_path, contacts=300, purchases=3_000)
    purchases = tmp_path / "data" / "purchases.csv"
    before = purchases.read_bytes()
    done = run("plan_tick.py", str(tmp_path), "--new-purchases", "300")
    assert done.returncode == 0, done.stderr
    phases = json.loads(done.stdout)
    assert set(phases) == {"start", "first", "steady", "idle", "reload", "after"}
    assert phases["start"]["purchases"] == 3_000
    assert phases["reload"]["purchases"] == 3_300  # the tick after them planned with them
    assert purchases.read_bytes() == before


def test_scale_prints_a_row_per_size(tmp_path: Path):
    done = run("scale.py", "--sizes", "200,300", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 200 ", "| 300 "))]
    assert len(rows) == 2
    cells = rows[1].strip("|").split("|")
    assert cells[1].strip() == "300" and cells[2].strip() == "3,000"
    assert int(cells[5].replace(",", "")) > 0  # items planned by preview
    assert (tmp_path / "300" / ".generated").read_text() == "300 3000 7"
    assert not list((tmp_path / "300").glob("outreach.db*"))  # no store left behind


def test_sizes_are_read_with_their_units():
    assert [clients_of(s) for s in ("10k", "100K", "1m", "2500")] == [
        10_000,
        100_000,
        1_000_000,
        2_500,
    ]
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        clients_of("ten")


@pytest.mark.postgres
def test_a_workspace_is_copied_into_postgresql(tmp_path: Path, postgres_url: str):
    generate(tmp_path, contacts=50, purchases=400)
    assert copy_into_postgres(tmp_path, postgres_url) == {
        "contacts": 50,
        "purchases": 400,
        "suppressions": 50,
    }
    # again: the tables are replaced, not appended to
    assert copy_into_postgres(tmp_path, postgres_url)["purchases"] == 400


@pytest.mark.postgres
def test_scale_previews_from_postgresql_what_it_previews_from_files(
    tmp_path: Path, postgres_url: str
):
    done = run(
        "scale.py", "--sizes", "200", "--dir", str(tmp_path), "--postgres", postgres_url,
        "--preview-only",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "[200] preview from PostgreSQL:" in done.stdout
    assert "the same as from files: True" in done.stdout
    config = (tmp_path / "200-postgres" / "outreach.yaml").read_text(encoding="utf-8")
    assert "table: purchases" in config and "password" not in config
