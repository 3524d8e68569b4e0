"""Feeds in the store: each feed's polling state, the entries read from them (one per
story: the same story from two feeds, by normalised link, is stored once) and the company
mentions found in them. Rows in, values out (`outreach.core.records.FeedState`,
`outreach.core.model.FeedEntry`, `Mention`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.store.schema import add_new, entries, feeds, from_iso, iso, mentions, put
from outreach.core.model import FeedEntry, Mention
from outreach.core.records import FeedState

# A feed whose poll started this share of its interval ago is not polled again: daemons'
# schedules drift apart by seconds, and one daemon's next poll must still find its turn.
FEED_TURN_SHARE = 0.8


def take_feed_turn(connection: Connection, url: str, now: datetime, every: timedelta) -> bool:
    """Whether this process polls the feed now: nobody (this process included) started a
    poll of it within most of its interval. Several daemons on one store each schedule
    every feed; the first to come takes the turn and the others let it pass, so a feed
    is read once an interval whatever the number of daemons."""
    key, since = feed_key(url), iso(now - every * FEED_TURN_SHARE)
    add_new(connection, feeds, {"url": key, "entries_seen": 0})
    free = or_(feeds.c.last_fetch.is_(None), feeds.c.last_fetch <= since)
    taken = (
        update(feeds)
        .where(feeds.c.url == key, free)
        .values(last_fetch=iso(now))
        .returning(feeds.c.url)
    )
    return connection.execute(taken).first() is not None


def feed_state(connection: Connection, url: str) -> FeedState | None:
    query = select(feeds).where(feeds.c.url == feed_key(url))
    row = connection.execute(query).mappings().first()
    return _state(row) if row else None


def every_feed(connection: Connection) -> list[FeedState]:
    return [_state(row) for row in connection.execute(select(feeds)).mappings()]


def _state(row: Any) -> FeedState:
    seen = row["entries_seen"]
    return FeedState(
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_fetch=from_iso(row["last_fetch"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        entries_seen=seen if isinstance(seen, int) else 0,
    )


def record_fetch(
    connection: Connection,
    url: str,
    when: datetime,
    status: str,
    error: str | None,
    etag: str | None = None,
    last_modified: str | None = None,
    new_entries: int = 0,
) -> None:
    values: dict[str, object] = {
        "last_fetch": iso(when),
        "last_status": status,
        "last_error": error,
    }
    if status == "fetched":
        values.update(etag=etag, last_modified=last_modified)
    values.update(url=feed_key(url), entries_seen=new_entries)
    put(connection, feeds, values, entries_seen=feeds.c.entries_seen + new_entries)


def add_entries(
    connection: Connection,
    found: Iterable[tuple[FeedEntry, str]],
    feed_url: str,
    language: str,
    when: datetime,
) -> list[FeedEntry]:
    """Store entries not seen before (by id, or by normalised link); return the new ones."""
    new: list[FeedEntry] = []
    for entry, link_key in found:
        known = connection.execute(
            select(entries.c.id).where(
                (entries.c.id == entry.id) | ((entries.c.link_key == link_key) & (link_key != ""))
            )
        ).first()
        if known:
            continue
        values = {
            "id": entry.id,
            "link_key": link_key,
            "feed_url": feed_key(feed_url),
            "language": language,
            "title": entry.title,
            "link": entry.link,
            "published": iso(entry.published),
            "summary": entry.summary,
            "first_seen": iso(when),
        }
        if add_new(connection, entries, values):  # not by a scan running meanwhile
            new.append(entry)
    return new


def known_entries(connection: Connection, ids: Sequence[str], link_keys: Sequence[str]) -> set[str]:
    """Which of these entry ids and link keys the store already has."""
    keys = [k for k in link_keys if k]
    rows = connection.execute(
        select(entries.c.id, entries.c.link_key).where(
            entries.c.id.in_(list(ids)) | entries.c.link_key.in_(keys)
        )
    ).all()
    return {value for row in rows for value in row if value}


def add_mentions(connection: Connection, found: Iterable[Mention], when: datetime) -> None:
    for mention in found:
        values = {
            "entry_id": mention.entry.id,
            "company_id": mention.company_id,
            "sentence": mention.sentence,
            "confidence": mention.confidence,
            "found_at": iso(when),
        }
        add_new(connection, mentions, values)


def every_mention(connection: Connection) -> list[Mention]:
    """Every stored mention, with its entry; an entry without a date is dated when first
    seen, which is when outreach could first have known of it."""
    query = select(mentions, entries).join(entries, mentions.c.entry_id == entries.c.id)
    rows = connection.execute(query).mappings().all()
    return [
        Mention(
            company_id=row["company_id"],
            entry=FeedEntry(
                id=row["id"],
                title=row["title"],
                link=row["link"],
                published=from_iso(row["published"]) or from_iso(row["first_seen"]),
                summary=row["summary"],
            ),
            sentence=row["sentence"],
            confidence=row["confidence"],
            found=from_iso(row["found_at"]),
        )
        for row in rows
    ]
