"""Mailboxes as the channels need them: re-parsed, on one line, so no field can carry a line
break into a header or an API's address field. Every name goes through one function,
`outreach.core.addresses.display_name`: SMTP and SendGrid show the same `Name <address>`."""

from __future__ import annotations

from outreach.core.addresses import deliverable, display_name
from outreach.core.outgoing import Outgoing
from outreach.core.schema_types import split_mailbox


def mailbox(text: str) -> tuple[str, str]:
    """(display name, address) of `Name <address>` or a bare address, the address checked
    the strict way (`outreach.core.addresses.deliverable`, an IDN domain in the form DNS
    knows): ValueError rather than a message that a mail library would send to an empty or
    different address, or write into a header no server reads. The same reading as
    `outreach validate` gives an address in outreach.yaml."""
    name, address = split_mailbox(one_line(text))
    return display_name(name), deliverable(address)


def recipient(message: Outgoing) -> tuple[str, str]:
    """(display name, address) of an action's recipient: the contact's name, when known."""
    if message.to is None:
        raise ValueError("it names no recipient")
    name, address = mailbox(message.to)
    return display_name(message.to_name) or name, address


def one_line(text: object) -> str:
    return " ".join(str(text or "").split())
