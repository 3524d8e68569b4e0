"""Secrets never stored or printed: every configured secret, and the forms an echo of it may
take, replaced wherever text leaves a channel, enters a log line or is shown.

    redact = Redactor.of(["pa55word"], encoded=["\\0anna\\0pa55word"])
    redact("535 refused pa55word (AGFubmEAcGE1NXdvcmQ=)")  ->  "535 refused [redacted] ([redacted])"

The forms of a secret: the value itself, URL-encoded or HTML-escaped (wholly or in part, and
folded across lines), JSON-escaped, and base64 (standard and URL-safe, with and without
padding); of what carries a secret whole, as
an SMTP AUTH PLAIN ("\\0user\\0password") or an HTTP header ("user:password", "Bearer key")
does, its base64. Text cut short with `bounded` loses no secret to the cut: a secret's
beginning right before the cut mark is a secret too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

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
    patterns: frozenset[str] = frozenset()  # one regular expression per form of a secret
    forms: frozenset[str] = frozenset()  # the forms as text, to find one cut short
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        longest_first = sorted(self.patterns, key=len, reverse=True)
        object.__setattr__(self, "pattern", re.compile("|".join(longest_first)))

    @classmethod
    def of(cls, secrets: Iterable[str], encoded: Iterable[str] = ()) -> Redactor:
        """`secrets` in every form; `encoded`: what holds a secret, in base64 only."""
        texts = [s for s in secrets if len(s) >= SHORTEST_SECRET]
        literal = {form for secret in texts for form in _in_json(secret) | _base64(secret)}
        literal |= {form for carrier in encoded if carrier for form in _base64(carrier)}
        return cls(
            frozenset(map(_url_encoded_or_not, texts)) | frozenset(map(re.escape, literal)),
            frozenset(texts) | frozenset(quote(s, safe="") for s in texts) | literal,
        )

    def __or__(self, other: Redactor) -> Redactor:
        return Redactor(self.patterns | other.patterns, self.forms | other.forms)

    def __call__(self, text: str) -> str:
        if not self.patterns or not text:
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


def _url_encoded_or_not(secret: str) -> str:
    """The secret with each character as written, percent-encoded in either case (URL
    encoders differ in what they leave alone) or as an HTML/XML character reference (an
    error page quoting it), a space also as `+`; and folded (a header line broken in two)."""
    return _FOLD.join(_char_or_code(char) for char in secret)


_FOLD = "(?:\\r?\\n[ \\t]+)?"
_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _char_or_code(char: str) -> str:
    code = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
    spellings = [f"(?i:{code})", re.escape(char), f"&#0*{ord(char)};", f"(?i:&#x0*{ord(char):x};)"]
    if char in _ENTITIES:
        spellings.append(f"&{_ENTITIES[char]};")
    if char == " ":
        spellings.append("\\+")
    return f"(?:{'|'.join(spellings)})"


def _in_json(secret: str) -> set[str]:
    return {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


def _base64(value: str) -> set[str]:
    raw = value.encode("utf-8")
    both = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return both | {form.rstrip("=") for form in both}
