"""Data kinds read from a SQL database (SQLite files, and the suite's PostgreSQL): the same
plan as from files, every rule of the file loaders kept, every failure located and closed."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import postgres
import pytest
import yaml
from helpers import run_cli
from sql_demo import CONTACTS, file_workspace, load_demo, sql_workspace

from outreach.adapters.sources.sql import SqlRows, text_of
from outreach.adapters.sources.sql_copy import copy_csv
from outreach.services.data_sources import sql_source, sql_stamp
from outreach.services.workspace import load_workspace

NOW = "2026-11-22T08:00:00+00:00"


def preview(workspace: Path, exit_code: int = 0) -> list[dict]:
    result = run_cli(
        "preview", "--workspace", workspace, "--days", "30", "--now", NOW, "--format", "json"
    )  # fmt: skip
    assert result.exit_code == exit_code, result.stderr
    return list(json.loads(result.stdout))


@pytest.fixture(scope="module")
def files_plan(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return preview(file_workspace(tmp_path_factory.mktemp("files")))


@pytest.fixture
def sqlite_demo(tmp_path: Path) -> Path:
    """The demo workspace reading its data from a SQLite file in it."""
    workspace = sql_workspace(tmp_path / "ws", "sqlite:///data/crm.db")
    load_demo(f"sqlite:///{workspace / 'data' / 'crm.db'}")
    return workspace


def test_the_plan_from_sqlite_is_the_plan_from_files(
    sqlite_demo: Path, files_plan: list[dict]
) -> None:
    plan = preview(sqlite_demo)

    assert len(plan) > 30
    assert plan == files_plan


@pytest.mark.postgres
def test_the_plan_from_postgresql_is_the_plan_from_files(
    tmp_path: Path, postgres_url: str, files_plan: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(postgres_url, postgres=True)
    monkeypatch.delenv("PGPASSWORD")  # the password comes from the variable outreach.yaml names
    monkeypatch.setenv("CRM_PASSWORD", postgres.PASSWORD)
    workspace = sql_workspace(tmp_path / "ws", postgres_url, True, password_env="CRM_PASSWORD")

    assert preview(workspace) == files_plan


@pytest.mark.postgres
def test_a_query_with_a_join_and_the_whole_url_from_the_environment(
    tmp_path: Path, postgres_url: str, files_plan: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(postgres_url, postgres=True)
    workspace = sql_workspace(tmp_path / "ws", postgres_url, True)
    user_host = postgres_url.split("://", 1)[1].split("@", 1)
    monkeypatch.setenv("CRM_URL", f"postgresql://{user_host[0]}:{postgres.PASSWORD}@{user_host[1]}")
    query = (  # purchases of clients who have not unsubscribed... and of those who have
        "SELECT s.sale_id, s.client, s.sold_on, s.total, s.currency, s.product "
        "FROM crm.sales s JOIN crm.crm_clients c ON c.client_id = s.client ORDER BY s.sale_id"
    )
    edit(workspace, "purchases", {"url_env": "CRM_URL", "query": query, "sql": None,
                                  "table": None})  # fmt: skip

    assert preview(workspace) == files_plan


def edit(workspace: Path, kind: str, changes: dict[str, object]) -> None:
    path = workspace / "outreach.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = config["data"][kind]
    for key, value in changes.items():
        if value is None:
            source.pop(key, None)
        else:
            source[key] = value
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def sql(workspace: Path, statement: str) -> None:
    with sqlite3.connect(workspace / "data" / "crm.db") as connection:
        connection.executescript(statement)


def problems(workspace: Path) -> list[str]:
    return [str(p) for p in load_workspace(workspace).problems]


def test_a_bad_cell_is_located_by_table_and_key(sqlite_demo: Path) -> None:
    sql(sqlite_demo, "UPDATE crm_clients SET birthday = '1990-02-30' WHERE client_id = 'c-03'")

    found = problems(sqlite_demo)

    assert any(
        p.startswith("sqlite:///data/crm.db crm_clients[client_id=c-03]: birthday: '1990-02-30'")
        for p in found
    ), found
    plan = preview(sqlite_demo, exit_code=1)  # 1: the data has an error
    assert any(item["contact"] == "c-03" for item in plan)  # the rest of the row still counts


def test_a_mapped_column_shows_both_names(sqlite_demo: Path) -> None:
    sql(sqlite_demo, "UPDATE crm_clients SET mail = 'not an address' WHERE client_id = 'c-05'")

    found = problems(sqlite_demo)

    assert any("crm_clients[client_id=c-05]: email (mail): 'not an address'" in p for p in found)


def test_an_unreadable_opt_out_withholds_the_contact(sqlite_demo: Path) -> None:
    sql(sqlite_demo, "UPDATE crm_clients SET unsubscribed = 'perhaps' WHERE client_id = 'c-01'")

    workspace = load_workspace(sqlite_demo)

    contact = workspace.data.contacts["c-01"]
    assert contact.withheld and "row client_id=c-01" in contact.withheld
    assert any("[client_id=c-01]: opted_out (unsubscribed): 'perhaps'" in str(p)
               for p in workspace.problems)  # fmt: skip


def test_a_duplicate_id_withholds_both_rows(sqlite_demo: Path) -> None:
    sql(sqlite_demo, "INSERT INTO crm_clients (client_id, mail) VALUES ('c-02', 'x@y.test')")

    workspace = load_workspace(sqlite_demo)

    withheld = workspace.data.contacts["c-02"].withheld
    assert withheld and "rows client_id=c-02 and client_id=c-02 of sqlite:///" in withheld


def test_a_bad_purchase_is_skipped_and_located(sqlite_demo: Path) -> None:
    sql(sqlite_demo, "UPDATE sales SET currency = 'euros' WHERE sale_id = 'p-0003'")

    found = problems(sqlite_demo)

    assert "sqlite:///data/crm.db sales[sale_id=p-0003]: currency: 'euros' is not a currency " \
           "code; write e.g. EUR; this row is skipped" in found  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        ("contacts", {"table": "clients"}, "cannot read the database: no such table: clients"),
        ("contacts", {"columns": {**CONTACTS, "email": "email_address"}},
         "no column 'email_address' (data.contacts.columns.email) in crm_clients"),
        ("contacts", {"key": "number"}, "no column 'number' (the key) in crm_clients"),
        ("suppressions", {"query": "SELECT address FROM do_not_mail WHERE", "table": None},
         "cannot read the database: incomplete input"),
        ("suppressions", {"sql": "sqlite:///data/nowhere.db"}, "nowhere.db: no such database"),
    ],
)  # fmt: skip
def test_a_source_that_cannot_be_read_whole_stops_every_send(
    sqlite_demo: Path, kind: str, changes: dict[str, object], expected: str
) -> None:
    edit(sqlite_demo, kind, changes)

    workspace = load_workspace(sqlite_demo)

    assert any(expected in str(p) for p in workspace.errors), workspace.errors
    assert workspace.unsafe_to_send


def test_an_unknown_column_in_the_mapping_is_located(sqlite_demo: Path) -> None:
    edit(sqlite_demo, "contacts", {"columns": {"frist_name": "given_name", "id": "client_id"}})

    found = problems(sqlite_demo)

    assert any(
        "outreach.yaml:" in p
        and "data.contacts.columns: 'frist_name' is not a column of this kind of data; "
        "did you mean 'first_name'?"
        in p
        for p in found
    ), found


def test_a_password_in_the_url_is_refused_and_never_repeated(sqlite_demo: Path) -> None:
    edit(sqlite_demo, "purchases", {"sql": "postgresql://crm:Sup3rSecret@db.test/crm"})

    result = run_cli("validate", "--workspace", sqlite_demo)

    assert result.exit_code == 1
    assert "data.purchases.sql: the URL holds a password" in result.stderr + result.stdout
    assert "Sup3rSecret" not in result.stderr + result.stdout
    lines = (sqlite_demo / "outreach.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "Sup3rSecret" in text)
    assert f"outreach.yaml:{line}:" in result.stderr + result.stdout


@pytest.mark.postgres
def test_an_unreachable_database_is_said_without_its_password(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(postgres_url, postgres=True)
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("CRM_PASSWORD", "wrong-Passw0rd-here")
    workspace = sql_workspace(tmp_path / "ws", postgres_url, True, password_env="CRM_PASSWORD")

    loaded = load_workspace(workspace)

    shown = postgres_url.replace("postgresql+psycopg://outreach@", "postgresql://")
    message = next(str(p) for p in loaded.errors if "crm.crm_clients" in str(p))
    assert message.startswith(f"{shown} crm.crm_clients: cannot connect to the database")
    assert "password" in message and "wrong-Passw0rd-here" not in message
    assert loaded.unsafe_to_send


@pytest.mark.postgres
def test_a_query_cannot_write(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(postgres_url, postgres=True)
    workspace = sql_workspace(tmp_path / "ws", postgres_url, True)
    edit(workspace, "suppressions", {"table": None,
         "query": "DELETE FROM crm.do_not_mail RETURNING address"})  # fmt: skip

    loaded = load_workspace(workspace)

    assert any("do_not_mail" not in str(p) and "cannot read the database" in str(p)
               for p in loaded.errors), loaded.errors  # fmt: skip
    assert loaded.unsafe_to_send
    edit(workspace, "suppressions", {"query": None, "table": "crm.do_not_mail"})
    assert "procurement@hekla-verk.test" in str(load_workspace(workspace).data.do_not_write)


def test_an_unset_variable_is_said(sqlite_demo: Path) -> None:
    edit(sqlite_demo, "contacts", {"password_env": "NO_SUCH_VARIABLE_SET"})

    loaded = load_workspace(sqlite_demo)

    assert any("data.contacts.password_env: the environment variable NO_SUCH_VARIABLE_SET "
               "is not set" in str(p) for p in loaded.errors)  # fmt: skip
    assert loaded.unsafe_to_send


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("c-1", "c-1"),
        (True, "true"),
        (False, "false"),
        (17, "17"),
        (Decimal("59700.00"), "59700.00"),
        (Decimal("1E+3"), "1000"),
        (date(1990, 2, 28), "1990-02-28"),
        (datetime(2026, 1, 2), "2026-01-02"),  # a timestamp at midnight: the day
        (datetime(2026, 1, 2, 10, 30), "2026-01-02T10:30:00"),  # else in full: not a date
        (["decision-maker", "fleet"], "decision-maker;fleet"),
    ],
)
def test_a_database_value_becomes_the_cell_a_file_would_hold(value: object, cell: str) -> None:
    assert text_of(value) == cell


def test_the_daemon_reads_a_database_again_every_refresh(sqlite_demo: Path) -> None:
    edit(sqlite_demo, "contacts", {"refresh": "10m"})
    config = load_workspace(sqlite_demo).config

    def contacts_stamp(now: float) -> tuple[str, int, int, int, int]:
        return next(entry for entry in sql_stamp(config, now) if entry[0] == "data.contacts")

    assert contacts_stamp(6000.0) == contacts_stamp(6599.0)
    assert contacts_stamp(6600.0) != contacts_stamp(6599.0)


def test_the_config_schema_describes_sql_sources() -> None:
    result = run_cli("schema", "--config")

    schema = json.loads(result.stdout)
    contacts = schema["$defs"]["DataFiles"]["properties"]["contacts"]
    assert {"$ref": "#/$defs/ContactsSql"} in contacts["oneOf"]
    assert {"sql", "url_env", "password_env", "table", "query", "key", "columns"} <= set(
        schema["$defs"]["ContactsSql"]["properties"]
    )


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["contacts", "purchases", "companies"])
def test_copy_writes_the_cells_the_rows_give(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    load_demo(postgres_url, postgres=True)  # booleans, dates, numerics, text arrays
    workspace = sql_workspace(tmp_path / "ws", postgres_url, True)
    config = load_workspace(workspace).config
    place = sql_source(workspace, config, kind, [])
    assert place is not None
    rows = SqlRows(place)
    expected = [cells for cells, _, _ in rows.rows()]
    out = tmp_path / f"{kind}.csv"

    with out.open("wb") as handle:
        header = copy_csv(place, handle)

    with out.open(encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert header == written[0] == rows.names
    assert written[1:] == expected
