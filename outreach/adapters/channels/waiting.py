"""How long a provider asks us to wait, from its answer's headers; what an HTTP channel makes
of an answer worth another try. How much of the wait is taken is the core's to decide
(outreach.core.delivery: capped, with a default when none can be read)."""

from __future__ import annotations

import logging
import math
import time
from email.utils import parsedate_to_datetime
from typing import Any

from outreach.core.delivery import Delivery

log = logging.getLogger(__name__)


def retried(status: int, headers: Any, error: str) -> Delivery:
    """An answer worth another try. A 429 rests the whole channel until the provider's time,
    and so does a 503 that names one (the service says when it is back)."""
    wait = retry_after(headers)
    rest = status == 429 or (status == 503 and wait is not None)
    return Delivery("retry", error=error, retry_after=wait, rest_channel=rest)


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait (never negative), from `Retry-After` (seconds or an HTTP date) or
    SendGrid's `X-RateLimit-Reset` (a Unix time); None when neither says. A header that is
    there but cannot be read is logged."""
    now = time.time() if now is None else now
    given = _header(headers, "Retry-After")
    if given:
        seconds = _number(given)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(given).timestamp() - now
            except (TypeError, ValueError, OverflowError):
                _unreadable("Retry-After", given)
        if seconds is not None:
            return max(0.0, seconds)
    reset = _header(headers, "X-RateLimit-Reset")
    if not reset:
        return None
    if (moment := _number(reset)) is None:
        _unreadable("X-RateLimit-Reset", reset)
        return None
    return max(0.0, moment - now)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _unreadable(name: str, value: str) -> None:
    log.warning("ignored %s %r: not a time outreach can read", name, value[:80])


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value).strip() if value is not None else None
