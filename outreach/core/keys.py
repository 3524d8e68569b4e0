"""Occurrence keys: the stable name of one action, `rule:contact:occurrence`, that makes
sending idempotent (the outbox's primary key).

Contact ids and occurrence parts (a feed entry's id, a purchase's id) are outside data and
may hold the separator; each part is therefore percent-encoded for `%` and `:` alone, so a
key says unambiguously where its parts end, and a key without those characters reads as it
always did (`birthday-note:c-17:2027`).
"""

from __future__ import annotations

import hashlib

SEPARATOR = ":"
# Ids from data files and feeds are refused beyond these lengths where they enter, so that a
# key (a rule id of at most MAX_RULE_ID, the other parts at most three times longer once
# escaped) stays within the store's key column (2000) and PostgreSQL's index entry limit.
MAX_RULE_ID = 100
MAX_ID = 200  # contact and purchase ids
MAX_ENTRY_ID = 400  # feed entry ids
# The occurrence part of an `error` decision's key when a trigger could not be evaluated for
# a contact at all, so that no occasion is known.
TRIGGER_FAILED = "trigger-failed"


def occurrence_key(rule_id: str, contact_id: str, occurrence: str) -> str:
    return SEPARATOR.join(escape_part(part) for part in (rule_id, contact_id, occurrence))


def escape_part(part: str) -> str:
    return part.replace("%", "%25").replace(SEPARATOR, "%3A")


def opaque_id(key: str) -> str:
    """The name of one action outside outreach (email headers, webhook receivers): the same
    for the same key, so receivers can deduplicate, without spelling out its rule or contact
    (a hash: it confirms a whole key guessed right, and tells nothing else)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
