"""Versioned schema migrations (Alembic), on SQLite and PostgreSQL: a new store is made at the
newest schema, which is `schema.py`; a store made before versioning is recognised, refused with
a clear message until `outreach db upgrade`, and then upgraded: unambiguous keys, feeds without
secrets, an id."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import make_workspace, run_cli
from sqlalchemy import create_engine, text

from outreach.adapters.store import SqlStore, migrations
from outreach.adapters.store.location import database_url
from outreach.adapters.store.schema import metadata
from outreach.errors import StoreError

SECRET = "s3cr3t-T0KEN"
FEED = f"https://reader:{SECRET}@feeds.test/rss?lang=en&token={SECRET}"
OLD_ROWS = [  # key, rule_id, contact_id, status: as outreach 0.1 wrote them
    ("birthday-note:c-17:2027", "birthday-note", "c-17", "sent"),
    ("news:c:1:story", "news", "c:1", "sent"),  # contact 'c:1', entry 'story'
    ("big-order:c-2:purchase-50%", "big-order", "c-2", "pending"),
    ("news:c-3:tag:x,2026:9", "news", "c-3", "sending"),  # interrupted mid-send
]


def baseline() -> object:
    path = Path(migrations.__file__).parent / "versions/0001_baseline.py"
    spec = importlib.util.spec_from_file_location("baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sql(ws: Path, statement: str, **values: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the workspace's store, past outreach (as a person would)."""
    engine = create_engine(database_url(_store_url(ws), ws))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _store_url(ws: Path) -> str:
    import yaml

    return str(yaml.safe_load((ws / "outreach.yaml").read_text())["store"])


def old_workspace(root: Path, store_url: str, **config: Any) -> Path:
    """A workspace whose store outreach 0.1 made (no alembic_version), with rows that must
    change."""
    ws = make_workspace(root, config={"store": store_url, **config})
    snapshot = baseline().snapshot  # type: ignore[attr-defined]
    engine = create_engine(database_url(store_url, ws))
    snapshot.create_all(engine)
    engine.dispose()
    for key, rule, contact, status in OLD_ROWS:
        sql(
            ws,
            "INSERT INTO outbox (key, rule_id, contact_id, action, channel, status, send_at,"
            " payload, attempts, doubtful, claimed_by, created_at, updated_at) VALUES"
            " (:key, :rule, :contact, 'task', 'tasks', :status, '2026-06-01T09:00:00+00:00',"
            " '{}', 0, 0, 'h:1:t', '2026-06-01', '2026-06-01')",
            key=key, rule=rule, contact=contact, status=status,
        )  # fmt: skip
    sql(ws, "INSERT INTO feeds (url, entries_seen) VALUES (:feed, 3), ('feeds/local.xml', 1)",
        feed=FEED)  # fmt: skip
    sql(
        ws,
        "INSERT INTO entries (id, link_key, feed_url, language, title, link, summary,"
        " first_seen) VALUES ('e-1', '', :feed, 'en', 't', '', 's', '2026-06-01')",
        feed=FEED,
    )
    sql(
        ws,
        "INSERT INTO ticks (job, started_at) VALUES (:job, '2026-06-01'), ('plan', '2026-06-01')",
        job=f"feed:{FEED.replace(f'reader:{SECRET}@', '')}",
    )
    return ws


def test_a_new_store_is_made_at_the_schema_of_schema_py(tmp_path: Path, store_url: str) -> None:
    store = SqlStore.open(store_url, tmp_path)
    assert store is not None
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == migrations.head()
        assert compare_metadata(context, metadata) == []
    assert len(store.id) == 36
    again = SqlStore.open(store_url, tmp_path)
    assert again is not None and again.id == store.id


def test_a_store_from_before_versioning_is_refused_until_upgraded(
    tmp_path: Path, store_url: str
) -> None:
    ws = old_workspace(tmp_path, store_url)
    with pytest.raises(StoreError, match=r"older schema \(unversioned.*outreach db upgrade"):
        SqlStore.open(store_url, ws)
    for command in (["run"], ["history"], ["queue", "list"], ["status"], ["db", "status"]):
        result = run_cli(*command, "--workspace", ws)
        assert result.exit_code == 1, (command, result.output)
        assert "outreach db upgrade" in result.stderr
        assert "Traceback" not in result.output

    upgraded = run_cli("db", "upgrade", "--workspace", ws)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from schema unversioned to {migrations.head()}" in upgraded.stdout
    assert "up to date" in run_cli("db", "status", "--workspace", ws).stdout
    rows = dict(sql(ws, "SELECT key, status FROM outbox"))
    assert rows == {
        "birthday-note:c-17:2027": "sent",  # no ':' or '%' inside a part: as it was
        "news:c%3A1:story": "sent",
        "big-order:c-2:purchase-50%25": "pending",
        "news:c-3:tag%3Ax,2026%3A9": "ambiguous",  # its receiver may know the old key
    }


def test_an_upgraded_store_keeps_no_feed_secret(tmp_path: Path, store_url: str) -> None:
    ws = old_workspace(tmp_path, store_url)
    assert run_cli("db", "upgrade", "--workspace", ws).exit_code == 0
    feeds = dict(sql(ws, "SELECT url, entries_seen FROM feeds"))
    [(entry_feed,)] = sql(ws, "SELECT feed_url FROM entries")
    jobs = [job for (job,) in sql(ws, "SELECT job FROM ticks")]
    shown = [url for url in feeds if url != "feeds/local.xml"]
    assert len(shown) == 1 and shown[0].startswith("https://feeds.test/rss?lang=en&token=*** #")
    assert feeds[shown[0]] == 3 and feeds["feeds/local.xml"] == 1  # state kept
    assert entry_feed == shown[0]
    assert jobs == ["plan"]  # the feed job's tick, named with the token, is gone
    for file in ws.glob("outreach.db*"):  # SQLite: not in a page left unused either
        assert SECRET.encode() not in file.read_bytes(), file


def test_an_upgraded_store_plans_the_action_its_old_key_hid(tmp_path: Path, store_url: str) -> None:
    """Before, contact 'c:1' with entry 'story' and contact 'c' with entry '1:story' had one
    key: the second never went. After the upgrade the first is known as done, and the second
    goes."""
    from outreach.adapters.store import outbox
    from outreach.core.keys import occurrence_key

    ws = old_workspace(tmp_path, store_url)
    assert run_cli("db", "upgrade", "--workspace", ws).exit_code == 0
    store = SqlStore.open(store_url, ws)
    assert store is not None
    with store.engine.connect() as connection:
        recorded = outbox.history(connection).recorded
    assert occurrence_key("news", "c:1", "story") in recorded
    assert occurrence_key("news", "c", "1:story") not in recorded


def test_an_older_store_at_a_revision_is_upgraded_and_a_newer_one_refused(
    tmp_path: Path, store_url: str
) -> None:
    ws = make_workspace(tmp_path, config={"store": store_url})
    assert run_cli("db", "upgrade", "--workspace", ws).stdout.endswith("nothing to upgrade\n")
    store = SqlStore.open(store_url, ws)
    assert store is not None
    store.engine.dispose()
    sql(ws, "UPDATE alembic_version SET version_num = '9999'")
    result = run_cli("run", "--workspace", ws)
    assert result.exit_code == 1
    assert "made by a newer outreach (schema 9999" in result.stderr
    assert run_cli("db", "upgrade", "--workspace", ws).exit_code == 1


def test_upgraded_rows_have_handles_and_show_on_the_workspaces_clock(
    tmp_path: Path, store_url: str
) -> None:
    ws = old_workspace(tmp_path, store_url, timezone="Asia/Kathmandu")
    assert run_cli("db", "upgrade", "--workspace", ws).exit_code == 0
    result = run_cli("history", "--workspace", ws, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    pending = rows["big-order:c-2:purchase-50%25"]
    assert pending["send_at"] == "2026-06-01T14:45:00+05:45"  # kept in UTC: no zone known
    assert pending["timezone"] == "Asia/Kathmandu"
    assert hashlib.sha256(pending["key"].encode()).hexdigest().startswith(pending["handle"])
    rejected = run_cli("queue", "reject", pending["handle"], "--workspace", ws)
    assert rejected.exit_code == 0, rejected.stdout
