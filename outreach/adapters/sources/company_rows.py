"""Companies from a row source (a table or a query) rather than companies.yaml: one row per
company; `aliases`, `context` and `exclude` are lists (a database array, or text separated
by `;`), and every other column goes to `extra`, for templates."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from outreach.adapters.sources.data import CompanyModel, company_of
from outreach.adapters.sources.rows import Row, RowSource
from outreach.core.config import COMPANY_COLUMNS
from outreach.core.model import Company
from outreach.core.problems import Problem

LISTS = ("aliases", "context", "exclude")


def read_companies(source: RowSource) -> tuple[dict[str, Company], list[Problem]]:
    companies: dict[str, Company] = {}
    problems: list[Problem] = []
    checked = False
    for row in source.rows():
        if not checked:
            checked = True
            if not source.require("id", "name"):
                break
        try:
            model = CompanyModel.model_validate(_fields(source, row))
        except ValidationError as exc:
            problems += [_at(source, row, error) for error in exc.errors()]
            continue
        if model.id in companies:
            message = f"duplicate company id '{model.id}'; this one is skipped"
            problems.append(source.at(row, "id", message))
            continue
        companies[model.id] = company_of(model)
    return companies, source.problems + problems


def _fields(source: RowSource, row: Row) -> dict[str, Any]:
    cells = {name: text.strip() for name, text in zip(source.names, row[0], strict=False)}
    fields: dict[str, Any] = {
        "id": cells.get("id", ""),
        "name": cells.get("name", ""),
        "domain": cells.get("domain") or None,
    }
    for column in LISTS:
        fields[column] = [item.strip() for item in cells.get(column, "").split(";") if item.strip()]
    fields["extra"] = {n: v for n, v in cells.items() if n and n not in COMPANY_COLUMNS}
    return fields


def _at(source: RowSource, row: Row, error: Any) -> Problem:
    column = str(error["loc"][0]) if error["loc"] else "id"
    message = error["msg"].removeprefix("Value error, ")
    return source.at(row, column, f"{column}: {message}; this company is skipped")
