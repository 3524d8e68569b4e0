"""Secrets never stored or printed: every configured secret, and the forms an echo of it may
take, replaced wherever text leaves a channel, enters a log line or is shown.

    redact = Redactor.of(["SG.abc…"], logins=[("anna", "pa55word")])
    redact("SendGrid 400: Authorization: Bearer SG.abc…")  ->  "…: Bearer [redacted]"

The forms: the value itself, URL-encoded, JSON-escaped, base64 (standard and URL-safe, with
and without padding), and for a login the base64 an SMTP AUTH PLAIN ("\\0user\\0password") or
an HTTP Basic ("user:password") header carries. Text cut short with `bounded` loses no secret
to the cut: a secret's beginning right before the cut mark is a secret too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, quote_plus

from outreach.core.delivery import Delivery

SHORTEST_SECRET = 6  # shorter values are not secrets, and hiding them would mangle everything
SHORTEST_CUT = 4  # the beginning of a secret kept before a cut mark, from this length on
REDACTED = "[redacted]"
CUT = "…"


def bounded(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a mark where it was cut."""
    return text if len(text) <= limit else text[:limit] + CUT


@dataclass(frozen=True)
class Redactor:
    forms: frozenset[str] = frozenset()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        longest_first = sorted(self.forms, key=len, reverse=True)
        object.__setattr__(self, "pattern", re.compile("|".join(map(re.escape, longest_first))))

    @classmethod
    def of(cls, secrets: Iterable[str], logins: Iterable[tuple[str, str]] = ()) -> Redactor:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= SHORTEST_SECRET:
                forms |= _escaped(secret) | _base64(secret)
        for user, password in logins:
            if len(password) >= SHORTEST_SECRET:
                forms |= _base64(f"\0{user}\0{password}") | _base64(f"{user}:{password}")
        return cls(frozenset(forms))

    def __or__(self, other: Redactor) -> Redactor:
        return Redactor(self.forms | other.forms)

    def __call__(self, text: str) -> str:
        if not self.forms or not text:
            return text
        text = self.pattern.sub(REDACTED, text)
        return self._cut_short(text) if CUT in text else text

    def tree(self, value: Any) -> Any:
        """A JSON-like value (dicts, lists, strings) with every string redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.tree(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.tree(item) for item in value]
        return value

    def delivery(self, delivery: Delivery) -> Delivery:
        return replace(
            delivery,
            error=self(delivery.error) if delivery.error else delivery.error,
            provider_id=self(delivery.provider_id) if delivery.provider_id else None,
        )

    def _cut_short(self, text: str) -> str:
        """Text cut in the middle of a secret: its beginning, before the mark, goes too."""
        parts = text.split(CUT)
        for i, part in enumerate(parts[:-1]):
            if kept := self._secret_beginning(part):
                parts[i] = part[:-kept] + REDACTED
        return CUT.join(parts)

    def _secret_beginning(self, part: str) -> int:
        """How many characters at the end of `part` begin a secret (0: none)."""
        lengths = (
            length
            for form in self.forms
            for length in range(len(form) - 1, SHORTEST_CUT - 1, -1)
            if part.endswith(form[:length])
        )
        return max(lengths, default=0)


def _escaped(secret: str) -> set[str]:
    """The value as text may carry it: itself, URL-encoded (either case of hex), in JSON."""
    encoded = {quote(secret, safe=""), quote_plus(secret, safe="")}
    encoded |= {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), e) for e in encoded}
    in_json = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {secret} | encoded | in_json


def _base64(value: str) -> set[str]:
    raw = value.encode("utf-8")
    both = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return both | {form.rstrip("=") for form in both}
