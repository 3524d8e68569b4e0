"""News end to end: feeds scan stores stories once, mentions reports them, preview plans the
notes they trigger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import make_workspace, run_cli

NOW = "2026-11-22T08:00:00+00:00"
COMPANIES = [
    {
        "id": "delta",
        "name": "Delta Cold Chain",
        "aliases": ["Delta"],
        "context": ["refrigerated", "logistics"],
        "exclude": ["Delta Air Lines"],
    },
    {
        "id": "hekla",
        "name": "Hekla",
        "aliases": ["Hekla ehf."],
        "context": ["construction"],
        "exclude": ["Mount Hekla"],
    },
]


def rss(*items: tuple[str, str, str]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><description>{text}</description></item>"
        for title, link, text in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    )


STORY = (
    "Delta Cold Chain opens refrigerated hub",
    "https://n.test/a?utm_source=x",
    "Delta Cold Chain, the logistics firm, opened a refrigerated hub in Newark.",
)
AIRLINE = ("Delta Air Lines adds a route", "https://n.test/b", "Delta Air Lines will fly daily.")
VOLCANO = ("Mount Hekla rumbles", "https://n.test/c", "Small quakes under Mount Hekla.")

RULE = """\
rules:
  - id: news
    trigger:
      news_mention: {keywords_any: [opens, opened], max_age: 3d}
    action:
      task: {template: congrats, assignee: am@acme.test}
"""
TEMPLATE = (
    "{% block subject %}{{ company.name }}: {{ occasion.entry.title }}{% endblock %}"
    "{% block text %}{{ occasion.entry.sentence }} {{ occasion.entry.link }}{% endblock %}"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = make_workspace(
        tmp_path,
        contacts=[
            {
                "id": "c-1",
                "first_name": "Maria",
                "email": "m@delta.test",
                "company_id": "delta",
                "timezone": "America/New_York",
            }
        ],
        companies=COMPANIES,
        feeds=[
            {"url": "feeds/one.xml", "language": "en"},
            {"url": "feeds/two.xml", "language": "en"},
        ],
        rules={"news.yaml": RULE},
        templates={"congrats.j2": TEMPLATE},
    )
    (ws / "feeds").mkdir()
    (ws / "feeds/one.xml").write_text(rss(STORY, AIRLINE), encoding="utf-8")
    # the same story from a second feed, with another tracking parameter: stored once
    same = (STORY[0], "https://n.test/a?utm_medium=y", STORY[2])
    (ws / "feeds/two.xml").write_text(rss(same, VOLCANO), encoding="utf-8")
    return ws


def db_rows(ws: Path, query: str) -> list[tuple]:
    with sqlite3.connect(ws / "outreach.db") as connection:
        return connection.execute(query).fetchall()


def test_scan_stores_each_story_once_and_its_mentions(workspace: Path) -> None:
    result = run_cli("feeds", "scan", "--workspace", workspace, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "2 feeds, 3 new entries, 1 mention, 0 errors" in result.stdout
    assert db_rows(workspace, "select count(*) from entries") == [(3,)]
    assert db_rows(workspace, "select company_id from mentions") == [("delta",)]
    again = run_cli("feeds", "scan", "--workspace", workspace, "--now", NOW)
    assert "0 new entries" in again.stdout and "not_modified" in again.stdout


def test_dry_run_writes_nothing(workspace: Path) -> None:
    result = run_cli("feeds", "scan", "--dry-run", "--workspace", workspace, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "1 mention," in result.stdout and "dry run" in result.stdout
    assert not (workspace / "outreach.db").exists()


def test_a_refused_feed_is_an_error_and_the_others_still_scan(workspace: Path) -> None:
    feeds = (workspace / "data/feeds.yaml").read_text()
    (workspace / "data/feeds.yaml").write_text(
        feeds
        + "- {url: 'http://127.0.0.1:9/feed.xml', language: en}\n"
        + "- {url: 'http://169.254.169.254/latest/meta-data', language: en}\n"
    )
    result = run_cli("feeds", "scan", "--workspace", workspace, "--now", NOW)
    assert result.exit_code == 1
    assert result.stdout.count("loopback") + result.stdout.count("link-local") >= 2
    assert "allow_private" in result.stdout
    assert db_rows(workspace, "select count(*) from entries") == [(3,)]


def test_mentions_json_is_one_element_per_company_and_entry(workspace: Path) -> None:
    result = run_cli(
        "mentions",
        "--feed",
        workspace / "feeds/one.xml",
        "--format",
        "json",
        "--workspace",
        workspace,
    )
    assert result.exit_code == 0, result.output
    (mention,) = json.loads(result.stdout)
    assert set(mention) == {"company", "entry", "title", "sentence", "confidence"}
    assert mention["company"] == "delta"
    assert mention["title"] == STORY[0]
    assert mention["sentence"].startswith("Delta Cold Chain, the logistics firm")
    assert 0.7 <= mention["confidence"] <= 1


def test_mentions_in_a_text_file(workspace: Path, tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text("Hekla ehf. won a construction award. Mount Hekla is quiet.", encoding="utf-8")
    result = run_cli("mentions", "--text", text, "--format", "json", "--workspace", workspace)
    assert [m["company"] for m in json.loads(result.stdout)] == ["hekla"]


def test_mentions_needs_exactly_one_source(workspace: Path) -> None:
    assert run_cli("mentions", "--workspace", workspace).exit_code == 2


def test_preview_plans_news_notes_from_the_feed_files(workspace: Path) -> None:
    result = run_cli("preview", "--workspace", workspace, "--now", NOW, "--format", "json")
    (decision,) = json.loads(result.stdout)
    assert decision["rule"] == "news" and decision["contact"] == "c-1"
    assert decision["status"] == "planned"
    assert decision["subject"] == "Delta Cold Chain: Delta Cold Chain opens refrigerated hub"
    assert decision["send_at"] == "2026-11-22T09:00:00-05:00"  # undated: today, at 09:00 there


def test_after_a_scan_stories_age_from_when_they_were_first_seen(workspace: Path) -> None:
    run_cli("feeds", "scan", "--workspace", workspace, "--now", NOW)
    later = "2026-11-30T08:00:00+00:00"  # eight days on: older than max_age 3d
    result = run_cli("preview", "--workspace", workspace, "--now", later, "--format", "json")
    assert json.loads(result.stdout) == []


def test_a_missing_trained_pipeline_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path, config={"mentions": {"ner_model": "xx_no_such_pipeline"}}, companies=COMPANIES
    )
    result = run_cli("validate", "--workspace", ws)
    assert result.exit_code == 0, result.output
    assert "outreach.yaml" in result.stderr and "xx_no_such_pipeline" in result.stderr
    assert "not installed" in result.stderr
    text = tmp_path / "story.txt"
    text.write_text("Hekla ehf. won a construction award.", encoding="utf-8")
    found = run_cli("mentions", "--text", text, "--format", "json", "--workspace", ws)
    assert [m["company"] for m in json.loads(found.stdout)] == ["hekla"]


def test_validate_checks_feeds_yaml(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        feeds="feeds:\n  - {url: 'ftp://x.test/feed', language: en}\n"
        "  - {url: https://ok.test/rss, every: 5s}\n",
    )
    result = run_cli("validate", "--workspace", ws)
    assert result.exit_code == 1
    assert "data/feeds.yaml:2:" in result.stdout + result.stderr
    assert "data/feeds.yaml:3:" in result.stdout + result.stderr


def test_mentions_finds_a_brand_first_in_a_one_line_item(tmp_path: Path) -> None:
    """The issue's example: a brand that is no everyday word, first in a short Icelandic
    sentence with nothing else around it."""
    icelandair = {"id": "icelandair", "name": "Icelandair", "domain": "icelandair.is"}
    ws = make_workspace(
        tmp_path,
        contacts=[{"id": "c-1", "first_name": "Jón", "email": "j@ia.test"}],
        companies=[*COMPANIES, icelandair],
    )
    text = tmp_path / "item.txt"
    text.write_text("Icelandair mun fljúga til fjögurra nýrra áfangastaða.\n", encoding="utf-8")
    result = run_cli(
        "mentions", "--text", text, "--language", "is", "--format", "json", "--workspace", ws
    )
    assert result.exit_code == 0, result.output
    (mention,) = json.loads(result.stdout)
    assert mention["company"] == "icelandair"
    assert mention["confidence"] >= 0.8  # enough for a news_mention rule's default
