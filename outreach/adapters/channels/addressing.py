"""Mailboxes as the channels need them: re-parsed, on one line, so no field can carry a line
break into a header or an API's address field."""

from __future__ import annotations

from email.utils import formataddr, parseaddr


def mailbox(text: str) -> tuple[str, str]:
    """(display name, address) of `Name <address>` or a bare address; ValueError otherwise."""
    name, address = parseaddr(one_line(text))
    if not address or "@" not in address or any(c in address for c in " <>,;"):
        raise ValueError(f"not an address: {text!r}")
    return name, address


def formatted(text: str) -> str:
    """The mailbox as an RFC 5322 header value, the name encoded when it is not ASCII."""
    return formataddr(mailbox(text))


def one_line(text: object) -> str:
    return " ".join(str(text or "").split())
