"""Text from data files, feeds, providers and the store, made safe to print: control
characters (ESC sequences that recolour, move or retitle the terminal; C1 controls; carriage
returns that overwrite a line; bidi overrides that reorder it) are shown as escapes, and
nothing a user or an outsider wrote is read as rich markup."""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls but tab, DEL, C1 controls; bidi embeddings, overrides and isolates (the marks
# that right-to-left names rightly hold stay); the Unicode line and paragraph separators.
_HIDDEN = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_HIDDEN}]")
_CONTROL_OR_NEWLINE = re.compile(f"[\n{_HIDDEN}]")


def visible(text: str, lines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`);
    line breaks too, unless `lines` (a traceback keeps its lines)."""
    pattern = _CONTROL if lines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escape, text)


def visible_json(document: str) -> str:
    """A JSON document whose strings hold no raw control character. (`json.dumps` escapes C0
    controls itself; the others become `\\u` escapes, which decode to the same text.)"""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def cell(value: object, style: str = "") -> Text:
    """A table cell or printed value that is shown as written: never markup, never control."""
    return Text(visible("" if value is None else str(value)), style=style)


_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
