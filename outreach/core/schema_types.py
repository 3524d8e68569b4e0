"""Small pydantic building blocks shared by the rule and config models."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from outreach.core.timing import format_duration, parse_clock, parse_duration


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
