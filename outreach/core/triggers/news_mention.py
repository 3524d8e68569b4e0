"""When a feed entry mentions the contact's company (mentions come from the feed scanner)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from outreach.core.model import Mention, Occurrence
from outreach.core.rules import NewsMention
from outreach.core.timing import DateRange, check_date
from outreach.core.triggers import Subject


def occurrences(params: NewsMention, subject: Subject, dates: DateRange) -> Iterator[Occurrence]:
    for mention in _relevant(params, subject):
        published = dated(mention)
        day = published.astimezone(subject.now.tzinfo).date() if published else subject.today
        # Due the morning of the story, or the day outreach first saw it if that was later:
        # a story inside max_age is never "late" only because it was found late.
        found = (
            mention.found.astimezone(subject.now.tzinfo).date()
            if mention.found
            else (subject.today)
        )
        if max(day, found) not in dates:
            continue
        entry = mention.entry
        yield Occurrence(
            key=entry.id,
            date=day,
            fire_date=day,
            known_from=max(day, found),
            details={
                "kind": "news_mention",
                "date": day,
                "confidence": mention.confidence,
                "entry": {
                    "title": entry.title,
                    "link": entry.link,
                    "published": published,
                    "sentence": mention.sentence,
                    "id": entry.id,
                },
            },
        )


def dated(mention: Mention) -> datetime | None:
    """When the story was published; None (undated: known from when it was found) for a
    date no story can have, which a feed may still claim."""
    published = mention.entry.published
    try:
        return published if published is None or check_date(published.date()) else None
    except ValueError:
        return None


def _relevant(params: NewsMention, subject: Subject) -> Iterator[Mention]:
    company = subject.contact.company_id
    if company is None or (params.companies is not None and company not in params.companies):
        return
    for mention in subject.data.mentions.get(company, ()):
        published = dated(mention)
        if mention.confidence < params.min_confidence:
            continue
        if published is not None and subject.now - published > params.max_age:
            continue
        text = f"{mention.entry.title}\n{mention.sentence}\n{mention.entry.summary}"
        if params.keywords_any and not _has_any(text, params.keywords_any):
            continue
        if _has_any(text, params.keywords_none):
            continue
        yield mention


def _has_any(text: str, keywords: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(k)}", text, re.IGNORECASE) for k in keywords)


def describe(params: NewsMention, subject: Subject) -> str:
    company = subject.contact.company_id
    if company is None:
        return "no company on file"
    if params.companies is not None and company not in params.companies:
        return f"company '{company}' is not among {', '.join(params.companies)}"
    found = len(subject.data.mentions.get(company, ()))
    kept = sum(1 for _ in _relevant(params, subject))
    return f"{found} news mentions of '{company}', {kept} pass keywords, age and confidence"
