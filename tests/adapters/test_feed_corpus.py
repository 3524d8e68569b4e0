"""feedparser's own test corpus (2,000+ well-formed, ill-formed, oddly encoded and hostile
feeds) goes through `parse_feed` without an unhandled exception.

The files are read where they are, beside the repository; they are never copied into it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from outreach.adapters.feeds.parsing import MAX_TEXT, parse_feed

CORPUS = Path(__file__).resolve().parents[3] / "shared/eval-data/feedparser-feed-corpus/tests"


def test_every_corpus_feed_parses() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"feedparser corpus not found at {CORPUS}; nothing to check")
    files = sorted(path for path in CORPUS.rglob("*") if path.is_file())
    failures: list[str] = []
    entries = bozo = 0
    started = time.monotonic()
    for path in files:
        try:
            parsed = parse_feed(path.read_bytes(), str(path.relative_to(CORPUS)), "xx")
        except Exception as exc:  # the point of the test: report them all, not the first
            failures.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}")
            continue
        entries += len(parsed.entries)
        bozo += parsed.warning is not None
        for entry in parsed.entries:
            if len(entry.title) > MAX_TEXT or len(entry.summary) > MAX_TEXT or "\n" in entry.title:
                failures.append(f"{path.relative_to(CORPUS)}: text not capped or not one line")
            if entry.link and not entry.link.startswith(("http://", "https://")):
                failures.append(f"{path.relative_to(CORPUS)}: unsafe link {entry.link!r}")
    print(
        f"\nfeedparser corpus: {len(files)} files, {entries} entries, {bozo} malformed (bozo), "
        f"{len(failures)} failures, {time.monotonic() - started:.1f} s"
    )
    assert files, f"no files under {CORPUS}"
    assert not failures, "\n".join(failures[:50])
