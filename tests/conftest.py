"""Shared fixtures. Helpers live in tests/helpers.py (`from helpers import make_workspace`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:  # `from helpers import ...` from any test folder
    sys.path.insert(0, str(TESTS))

import postgres  # noqa: E402
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace  # noqa: E402
from local_smtp import Mailbox, smtp_server  # noqa: E402

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
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on this machine, and what it received."""
    with smtp_server() as server:
        yield server


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Server]:
    """A PostgreSQL server for the whole session, started on first use (tests/postgres.py)."""
    with postgres.running_server() as server:
        yield server


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped after the test (with the connections left
    to it); its password is in PGPASSWORD, not in the URL."""
    server: postgres.Server = request.getfixturevalue("postgres_server")
    monkeypatch.setenv("PGPASSWORD", postgres.PASSWORD)
    name = server.new_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL for a workspace, on each backend: a SQLite file in the workspace, or a new
    PostgreSQL database."""
    if request.param == "sqlite":
        return "sqlite:///outreach.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under OUTREACH_REQUIRE_POSTGRES=1 (CI), a PostgreSQL test that skips is a failure."""
    report: pytest.TestReport = yield
    if (
        report.skipped
        and os.environ.get(postgres.REQUIRE) == "1"
        and item.get_closest_marker("postgres") is not None
    ):
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL test skipped under {postgres.REQUIRE}=1: {report.longrepr}"
    return report
