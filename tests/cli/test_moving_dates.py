"""`data_dated_for` in outreach.yaml (demo data): every date of the data moves with the clock,
`validate`, `preview` and `explain` say so, and a date moved out of range is a located bad
cell. Without the setting nothing moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import (
    BIG_ORDER_RULE,
    BIRTHDAY_RULE,
    BIRTHDAY_TEMPLATE,
    NOTE_TEMPLATE,
    make_workspace,
    preview_json,
    run_cli,
)

ROOT = Path(__file__).parents[2]
CONTACT = {"id": "c-1", "first_name": "Ada", "email": "ada@example.test", "birthday": "1985-06-05"}


def _workspace(tmp_path: Path, dated_for: str | None = "2026-06-01", **data: object) -> Path:
    return make_workspace(
        tmp_path,
        config={"data_dated_for": dated_for} if dated_for else {},
        contacts=data.pop("contacts", [CONTACT]),  # type: ignore[arg-type]
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
        **data,  # type: ignore[arg-type]
    )


def test_the_birthday_moves_with_the_clock(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    plan = preview_json(ws, now="2027-01-10T08:00:00+00:00", days=10)  # 223 days later
    assert [(d["key"], d["send_at"]) for d in plan] == [
        ("birthday-note:c-1:2027", "2027-01-14T09:00:00+00:00")  # 5 June 1985 + 223 days
    ]


def test_without_the_setting_nothing_moves(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, dated_for=None)
    assert preview_json(ws, now="2027-01-10T08:00:00+00:00", days=10) == []
    result = run_cli("validate", "--workspace", ws, "--now", "2027-01-10T08:00:00+00:00")
    assert "data_dated_for" not in result.stderr


def test_validate_preview_and_explain_say_the_dates_moved(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    now = "2026-06-11T08:00:00+00:00"
    for command in (["validate"], ["preview"], ["explain", "c-1"]):
        result = run_cli(*command, "--workspace", ws, "--now", now)
        assert result.exit_code == 0, result.stderr
        assert "moved by +10 days, to 2026-06-11" in result.stderr, command
    explained = run_cli("explain", "c-1", "--workspace", ws, "--now", now).stdout
    assert "1985-06-15" in explained and "1985-06-05" not in explained


def test_a_date_moved_out_of_range_is_a_located_bad_cell(tmp_path: Path) -> None:
    far = {**CONTACT, "birthday": "2999-12-30"}
    order = {"id": "p-1", "contact_id": "c-1", "date": "2999-12-01", "amount": 5,
             "currency": "EUR", "product": "x"}  # fmt: skip
    ws = _workspace(tmp_path, contacts=[far], purchases=[order])
    result = run_cli(
        "preview", "--workspace", ws, "--now", "2027-06-01T08:00:00+00:00", "--format", "json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []
    lines = result.stderr.splitlines()
    assert any(
        "data/contacts.csv:2:27: birthday: 2999-12-30 moved by +365 days" in line
        and "outside the years 1800-2999; this cell is not used" in line
        for line in lines
    ), result.stderr
    assert any("data/purchases.csv:2:9: date: 2999-12-01 moved" in line for line in lines)


def test_stories_a_scan_stored_from_the_demo_feed_files_still_move(tmp_path: Path) -> None:
    """`feeds scan` stores the demo's stories with the dates of the files; a preview months
    later still sees them as news of the day, moved like everything else."""
    demo = tmp_path / "demo"
    demo.mkdir()
    for name in ("outreach.yaml", "rules", "templates", "examples"):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, demo / name)
    scanned = run_cli("feeds", "scan", "--workspace", demo, "--now", "2026-11-22T08:00:00+00:00")
    assert scanned.exit_code == 0, scanned.stderr
    later = preview_json(demo, now="2027-05-03T08:00:00+00:00", days=30)
    news = {
        d["contact"] for d in later if d["rule"] == "news-congrats" and d["status"] == "planned"
    }
    assert {"c-01", "c-03", "c-32"} <= news  # Hekla, Fjörður, Delta Cold Chain


def test_the_config_schema_documents_the_setting() -> None:
    result = run_cli("schema", "--config")
    described = json.loads(result.stdout)["properties"]["data_dated_for"]
    assert "demo" in json.dumps(described)


def test_a_setting_that_is_no_day_is_a_located_error(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, dated_for="someday")
    result = run_cli("validate", "--workspace", ws)
    assert result.exit_code == 1
    assert "outreach.yaml:" in result.stderr and "data_dated_for" in result.stderr


def test_run_plans_and_records_the_moved_data(tmp_path: Path) -> None:
    order = {"id": "p-1", "contact_id": "c-1", "date": "2026-01-01", "amount": 500,
             "currency": "EUR", "product": "x"}  # fmt: skip
    ws = make_workspace(
        tmp_path,
        config={"data_dated_for": "2026-01-01"},
        contacts=[CONTACT],
        purchases=[order],
        rules={"tasks.yaml": BIG_ORDER_RULE},
        templates={"note.j2": NOTE_TEMPLATE},
    )
    result = run_cli("run", "--workspace", ws, "--now", "2026-03-01T12:00:00+00:00")
    assert result.exit_code == 0, result.stderr
    assert "moved by +59 days" in result.stderr
    tasks = [json.loads(line) for line in (ws / "out" / "tasks.jsonl").read_text().splitlines()]
    assert [t["key"] for t in tasks] == ["big-order:c-1:purchase-p-1"]  # due: moved to the day
