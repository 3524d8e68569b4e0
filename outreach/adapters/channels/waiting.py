"""How long a provider asks us to wait, from its answer's headers."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import Any


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or an HTTP date) or SendGrid's
    `X-RateLimit-Reset` (a Unix time)."""
    now = time.time() if now is None else now
    given = _header(headers, "Retry-After")
    if given:
        seconds = _number(given)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(given).timestamp() - now
            except (TypeError, ValueError, OverflowError):
                seconds = None
        if seconds is not None:
            return _sane(seconds)
    reset = _number(_header(headers, "X-RateLimit-Reset"))
    return None if reset is None else _sane(reset - now)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _sane(seconds: float) -> float:
    """Between now and a day: a provider asking for more is not taken at its word."""
    return min(max(0.0, seconds), 86_400.0)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value).strip() if value is not None else None
