"""Small pydantic building blocks shared by the rule and config models."""

from __future__ import annotations

import re
from datetime import time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from outreach.core.addresses import deliverable
from outreach.core.timing import format_duration, parse_clock, parse_duration

# The error type of a secret written in a user's file: its message never quotes the value.
SECRET_IN_FILE = "secret_in_file"


class Strict(BaseModel):
    """A model of user-written YAML: unknown keys are mistakes, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _clock(value: Any) -> Any:
    return parse_clock(value) if isinstance(value, str) else value


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\s*[wdhms]$", "examples": ["2d", "12h"]}),
]

Clock = Annotated[
    time,
    BeforeValidator(_clock),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$", "examples": ["09:00"]}
    ),
]


# A sum of money or a threshold: from nothing up to a quadrillion (beyond, a mistake that
# would only make arithmetic overflow).
Amount = Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 15, allow_inf_nan=False)]


_ADDRESS = r"[^<>@\s,;\"\x00-\x1f\x7f]+@[^<>@\s,;\"\x00-\x1f\x7f]+"
_NAMED = re.compile(rf"^(?P<name>[^<>\x00-\x1f\x7f]*?)\s*<(?P<address>{_ADDRESS})>$")
_BARE = re.compile(rf"^(?P<address>{_ADDRESS})$")
_SINGLE_LINE = re.compile(r"^[^\x00-\x1f\x7f]*$")


def split_mailbox(text: str) -> tuple[str, str]:
    """(display name, address) of `Name <name@example.com>` or a bare address. The name may
    hold commas or an @ ("Acme, Inc."), never a line break; ValueError otherwise."""
    text = text.strip()
    found = _NAMED.match(text) or _BARE.match(text)
    if found is None:
        raise ValueError(
            f"'{text}' is not an address; write name@example.com or Name <name@example.com>"
        )
    name = found.groupdict().get("name") or ""
    return name.strip().strip('"').strip(), found["address"]


def _mailbox(value: str) -> str:
    deliverable(split_mailbox(value)[1])  # the same strict reading a recipient gets
    return value.strip()


def _single_line(value: str) -> str:
    if not _SINGLE_LINE.match(value):
        raise ValueError("line breaks and control characters are not allowed here")
    return value


# An email address, optionally with a display name; never a line break (header injection).
Mailbox = Annotated[str, AfterValidator(_mailbox)]
# Text that ends up in a header or a signature line.
SingleLine = Annotated[str, AfterValidator(_single_line)]


def owner_or_mailbox(value: str) -> str:
    return value if value == "owner" else _mailbox(value)


OwnerOrMailbox = Annotated[str, AfterValidator(owner_or_mailbox)]
