"""`outreach` on a PostgreSQL store from the command line: made at first use, its schema
told and upgraded by `db status` and `db upgrade`, and a password that is missing or wrong
said in one line that tells where it comes from (the environment), never showing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_workspace, run_cli

from outreach.adapters.store import migrations

pytestmark = pytest.mark.postgres


def test_a_postgresql_store_is_made_at_first_use_and_its_schema_told(
    tmp_path: Path, postgres_url: str
) -> None:
    ws = make_workspace(tmp_path / "ws", config={"store": postgres_url})
    status = run_cli("db", "status", "--workspace", ws)
    assert status.exit_code == 0 and "not made yet" in status.stdout, status.output
    assert "not made yet; nothing to upgrade" in run_cli("db", "upgrade", "--workspace", ws).stdout
    assert run_cli("run", "--workspace", ws).exit_code == 0
    assert (
        f"schema {migrations.head()}, up to date"
        in run_cli("db", "status", "--workspace", ws).stdout
    )
    upgraded = run_cli("db", "upgrade", "--workspace", ws)
    assert upgraded.exit_code == 0 and "already up to date" in upgraded.stdout


@pytest.mark.parametrize("password", [None, "wrong", "in-the-url"])
def test_a_missing_or_wrong_password_is_one_line_naming_the_environment(
    tmp_path: Path, postgres_url: str, password: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url
    if password == "in-the-url":
        url = url.replace("outreach@", "outreach:Hunter2-in-the-file@")
        password = "wrong"
    ws = make_workspace(tmp_path / "ws", config={"store": url})
    for command in (["run"], ["db", "status"], ["db", "upgrade"], ["status"], ["history"]):
        result = run_cli(*command, "--workspace", ws, env={"PGPASSWORD": password})
        assert result.exit_code == 1, (command, result.output)
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert "password" in line and "PGPASSWORD, or a ~/.pgpass file" in line, line
        assert "Hunter2" not in result.output and "Traceback" not in result.output
