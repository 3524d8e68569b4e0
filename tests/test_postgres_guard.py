"""The PostgreSQL tests skip, saying why, where no server can be started — and under
OUTREACH_REQUIRE_POSTGRES=1, as `.ci/run` sets it, they fail instead: a CI that passes has
run them. Checked on a pytest session of its own, with the suite's conftest and no
PostgreSQL binaries to be found."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SESSION = """
import pytest
import postgres

postgres.find_binaries = lambda: None  # a machine without PostgreSQL


def test_on_a_database(postgres_url):
    pass


@pytest.mark.postgres
def test_marked_and_skipped_for_another_reason():
    pytest.skip("for another reason")
"""


def outcomes(folder: Path, require: str | None) -> tuple[dict[str, int], str]:
    """How many tests of the session ended how, and what it printed."""
    env = {**os.environ}
    env.pop("OUTREACH_REQUIRE_POSTGRES", None)
    if require is not None:
        env["OUTREACH_REQUIRE_POSTGRES"] = require
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    last = done.stdout.strip().splitlines()[-1]
    counts = {word.rstrip("s"): int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}
    return counts, done.stdout


@pytest.fixture
def session(tmp_path: Path) -> Path:
    for name in ("conftest.py", "postgres.py", "helpers.py", "local_smtp.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_session.py").write_text(SESSION)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = postgres\n")
    return tmp_path


def test_without_postgresql_the_tests_skip_saying_why(session: Path) -> None:
    counts, output = outcomes(session, require=None)
    assert counts == {"skipped": 2}, output
    assert "no PostgreSQL: no initdb and pg_ctl" in output and "`.ci/run` installs" in output


def test_under_ci_a_postgresql_test_that_cannot_run_fails(session: Path) -> None:
    counts, output = outcomes(session, require="1")
    assert counts == {"failed": 1, "error": 1}, output  # the fixture's, and the skip's
    assert "PostgreSQL is required (OUTREACH_REQUIRE_POSTGRES=1)" in output
    assert "a PostgreSQL test skipped under OUTREACH_REQUIRE_POSTGRES=1" in output
