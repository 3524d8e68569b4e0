"""The code stays ruff-clean: lint runs with the tests."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")  # the one installed by the test extra


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed (pip install -e '.[test]')")
def test_ruff_is_clean():
    result = subprocess.run(
        [str(RUFF), "check", "outreach", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


MYPY = Path(sys.executable).with_name("mypy")


@pytest.mark.skipif(not MYPY.exists(), reason="mypy is not installed (pip install -e '.[test]')")
def test_types_check():
    """The whole package type-checks; the pure core under --strict (see pyproject.toml)."""
    result = subprocess.run(
        [str(MYPY), "outreach"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
