"""The two parts of every email: its text, and HTML: the template's own, else the text set
as paragraphs. Every message goes as multipart/alternative alike, whether or not its
template (a gift card, a layout without an `html` block) writes HTML."""

from __future__ import annotations

import html
import re
from typing import NamedTuple

from outreach.core.outgoing import Outgoing

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


class Bodies(NamedTuple):
    text: str
    html: str


def bodies(message: Outgoing) -> Bodies:
    text = message.text or ""
    return Bodies(text, message.html or html_of(text))


def html_of(text: str) -> str:
    """Plain text as HTML: escaped, blank lines part paragraphs, line breaks kept."""
    paragraphs = [p.strip("\n") for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n"))]
    return "\n".join(
        "<p>" + "<br>\n".join(map(html.escape, p.split("\n"))) + "</p>"
        for p in paragraphs
        if p.strip()
    )
