"""The demo workspace's data (examples/data) in a database, under other column names, and a
workspace whose outreach.yaml reads it back through a mapping: for the tests that compare a
database workspace with the files one."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    MetaData,
    Numeric,
    Table,
    Text,
    create_engine,
    insert,
)
from sqlalchemy.dialects.postgresql import ARRAY

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"

# ours: theirs, for each kind; what is not named keeps its name.
CONTACTS = {"id": "client_id", "email": "mail", "first_name": "given_name",
            "last_name": "family_name", "customer_since": "client_since",
            "opted_out": "unsubscribed"}  # fmt: skip
PURCHASES = {"id": "sale_id", "contact_id": "client", "date": "sold_on", "amount": "total"}
SUPPRESSIONS = {"email": "address"}
COMPANIES = {"id": "company_key", "name": "company_name"}
DATES = {"client_since", "renewal_date", "sold_on", "date"}  # typed DATE columns
LISTS = ("aliases", "context", "exclude")


def read_csv(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _value(column: str, text: str) -> Any:
    if column in DATES:
        return date.fromisoformat(text) if text else None
    if column == "unsubscribed":
        return text == "true"
    if column == "total":
        return Decimal(text)
    return text


def _table(metadata: MetaData, name: str, columns: list[str], postgres: bool) -> Table:
    def typed(column: str) -> Any:
        if column in DATES:
            return Date
        if column == "unsubscribed":
            return Boolean
        if column == "total":
            return Numeric(14, 2)
        if column in LISTS and postgres:
            return ARRAY(Text)
        return Text

    schema = "crm" if postgres else None
    return Table(name, metadata, *(Column(c, typed(c)) for c in columns), schema=schema)


def load_demo(url: str, postgres: bool = False) -> None:
    """The demo's contacts, purchases, suppressions and companies as tables crm_clients,
    sales, do_not_mail and firms (in schema `crm` on PostgreSQL), with typed columns."""
    engine = create_engine(url)
    metadata = MetaData()
    tables = {}
    for name, file, mapping in (
        ("crm_clients", "contacts.csv", CONTACTS),
        ("sales", "purchases.csv", PURCHASES),
        ("do_not_mail", "suppressions.csv", SUPPRESSIONS),
    ):
        header, rows = read_csv(file)
        theirs = [mapping.get(c, c) for c in header]
        table = _table(metadata, name, theirs, postgres)
        records = [
            {mapping.get(c, c): _value(mapping.get(c, c), row[c]) for c in header} for row in rows
        ]
        tables[table] = records
    firms = yaml.safe_load((DATA / "companies.yaml").read_text(encoding="utf-8"))["companies"]
    columns = ["company_key", "company_name", "domain", *LISTS]
    table = _table(metadata, "firms", columns, postgres)
    tables[table] = [_firm(firm, postgres) for firm in firms]
    with engine.begin() as connection:
        if postgres:
            connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS crm")
        metadata.create_all(connection)
        for table, records in tables.items():
            connection.execute(insert(table), records)
    engine.dispose()


def _firm(firm: dict[str, Any], postgres: bool) -> dict[str, Any]:
    record = {"company_key": firm["id"], "company_name": firm["name"],
              "domain": firm.get("domain")}  # fmt: skip
    for column in LISTS:
        items = firm.get(column, [])
        record[column] = items if postgres else ";".join(items)
    return record


def sql_workspace(folder: Path, url: str, postgres: bool = False, **env: str) -> Path:
    """A copy of the demo workspace whose data comes from the database at `url` (written
    without its password; `env` names the variables that hold it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("rules", "templates"):
        shutil.copytree(REPO / name, folder / name)
    (folder / "data").mkdir()
    shutil.copytree(REPO / "examples" / "feeds", folder / "examples" / "feeds")
    shutil.copy(DATA / "feeds.yaml", folder / "data" / "feeds.yaml")
    config = yaml.safe_load((REPO / "outreach.yaml").read_text(encoding="utf-8"))
    schema = "crm." if postgres else ""

    def source(table: str, mapping: dict[str, str]) -> dict[str, Any]:
        return {"sql": url, "table": f"{schema}{table}", "columns": mapping, **env}

    config["data"] = {
        "contacts": source("crm_clients", CONTACTS),
        "purchases": source("sales", PURCHASES),
        "suppressions": source("do_not_mail", SUPPRESSIONS),
        "companies": source("firms", COMPANIES),
        "feeds": "data/feeds.yaml",
    }
    config["store"] = "sqlite:///out/outreach.db"
    (folder / "outreach.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return folder


def file_workspace(folder: Path) -> Path:
    """A copy of the demo workspace as it is: files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("rules", "templates", "examples"):
        shutil.copytree(REPO / name, folder / name)
    shutil.copy(REPO / "outreach.yaml", folder / "outreach.yaml")
    return folder
