"""Shared fixtures. Helpers live in tests/helpers.py (`from helpers import make_workspace`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:  # `from helpers import ...` from any test folder
    sys.path.insert(0, str(TESTS))

from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace  # noqa: E402

REPO_ROOT = TESTS.parent


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's workspace setting or terminal width."""
    monkeypatch.delenv("OUTREACH_WORKSPACE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def birthday_workspace(tmp_path: Path) -> Path:
    """One rule (birthday email), one template, two contacts with birthdays in June 2026."""
    return make_workspace(
        tmp_path / "ws",
        contacts=[
            {
                "id": "c-1",
                "first_name": "Ada",
                "email": "ada@example.test",
                "birthday": "1985-06-10",
                "timezone": "Pacific/Auckland",
            },
            {
                "id": "c-2",
                "first_name": "Grace",
                "email": "grace@example.test",
                "birthday": "06-05",
                "timezone": "America/New_York",
            },
        ],
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
