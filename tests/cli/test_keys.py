"""Two different actions never share a key, whatever their ids hold (issue 9, item 9)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import BIG_ORDER_RULE, NOTE_TEMPLATE, big_order, make_workspace, run_cli

NOW = "2026-06-01T10:00:00+00:00"
NEWS_RULE = """\
rules:
  - id: news
    trigger:
      news_mention: {keywords_any: [opens]}
    action:
      task: {template: note, assignee: am@acme.test}
"""
STORY = "Delta Cold Chain opens a refrigerated hub; the logistics firm opened it in Newark."


def task_keys(ws: Path) -> list[str]:
    lines = (ws / "out/tasks.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted(json.loads(line)["key"] for line in lines)


def test_a_contact_id_with_a_colon_gets_its_own_action(tmp_path: Path) -> None:
    # plainly joined, both keys were "big-order:c:purchase-1:purchase-x"
    ws = make_workspace(
        tmp_path,
        contacts=[{"id": "c"}, {"id": "c:purchase-1"}],
        purchases=[
            big_order("1:purchase-x", contact="c"),
            big_order("x", contact="c:purchase-1"),
        ],
        rules={"r.yaml": BIG_ORDER_RULE},
        templates={"note.j2": NOTE_TEMPLATE},
    )
    result = run_cli("run", "--workspace", ws, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert task_keys(ws) == [
        "big-order:c%3Apurchase-1:purchase-x",
        "big-order:c:purchase-1%3Apurchase-x",
    ]


def test_a_news_entry_id_with_a_colon_gets_its_own_action(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        contacts=[{"id": "c", "company_id": "delta"}, {"id": "c:1", "company_id": "delta"}],
        companies=[{"id": "delta", "name": "Delta Cold Chain", "context": ["logistics"]}],
        feeds=[{"url": "feeds/news.xml", "language": "en"}],
        rules={"news.yaml": NEWS_RULE},
        templates={"note.j2": NOTE_TEMPLATE},
    )
    items = "".join(
        f"<item><guid>{guid}</guid><title>Delta Cold Chain opens a hub</title>"
        f"<link>https://n.test/{n}</link><pubDate>Mon, 01 Jun 2026 06:00:00 GMT</pubDate>"
        f"<description>{STORY}</description></item>"
        for n, guid in enumerate(["1:story", "story"])
    )
    (ws / "feeds").mkdir()
    (ws / "feeds/news.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
        encoding="utf-8",
    )
    result = run_cli("run", "--workspace", ws, "--now", NOW)
    assert result.exit_code == 0, result.output
    # "news:c:1:story" twice, before: contact c with entry 1:story, contact c:1 with story
    assert task_keys(ws) == [
        "news:c%3A1:1%3Astory",
        "news:c%3A1:story",
        "news:c:1%3Astory",
        "news:c:story",
    ]


def test_ids_too_long_for_a_key_are_refused_where_they_enter(tmp_path: Path) -> None:
    long_id = "c" * 201
    ws = make_workspace(tmp_path, contacts=[{"id": long_id}, {"id": "ok"}])
    result = run_cli("validate", "--workspace", ws)
    assert result.exit_code == 1
    assert "data/contacts.csv:2:1: the id is longer than 200 characters" in result.stderr
