"""What happens to an outbox row after a channel tried it: pure policy, no I/O.

A channel answers with a `Delivery`; `settle` turns it into the row's next state:

    sent                        -> sent (or ambiguous, when an earlier try may have arrived)
    dead                        -> dead, with the provider's error (or ambiguous, when an
                                   earlier try may have arrived: sending it again by hand
                                   could make two)
    retry                       -> failed, tried again after an exponential backoff with
                                   jitter (at least what the provider asked for), until
                                   MAX_ATTEMPTS answers; then dead
    retry, doubtful             -> the provider may have it (a dropped connection after the
                                   request went out, a read timeout): an email is tried once
                                   more and then called ambiguous; anything else is ambiguous
                                   at once, for a person to check: a gift is never sent twice
    paused                      -> the row is untouched; the channel rests (bad credentials)

`interrupted` does the same for a row found in `sending` after its dispatcher died.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from outreach.core.outbox import State

Outcome = Literal["sent", "retry", "dead", "paused"]

MAX_ATTEMPTS = 8
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
LONGEST_ASKED = timedelta(days=1)  # a provider asking for more is not taken at its word
PAUSE_ON_REFUSAL = timedelta(minutes=10)
LONGEST_PAUSE = LONGEST_ASKED + PAUSE_ON_REFUSAL  # no pause outreach makes is longer
# Only emails are ever sent a second time when the first try may have arrived: a duplicate
# note is embarrassing, a duplicate gift or webhook call costs money or corrupts a system.
RETRIED_WHEN_DOUBTFUL = frozenset({"email"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """A channel's answer for one row. `error` is one line for `history`, never a secret."""

    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait
    doubtful: bool = False  # the provider may have accepted it although we saw no answer
    rest_channel: bool = False  # the whole channel should wait `retry_after` (429)


@dataclass(frozen=True, slots=True)
class Step:
    """The row's next state."""

    status: State
    attempts: int
    doubtful: int
    error: str | None = None
    next_attempt_at: datetime | None = None
    provider_id: str | None = None
    delivered: bool = False  # the provider took it (this time)


def settle(
    delivery: Delivery, channel: str, attempts: int, doubtful: int, now: datetime, jitter: float
) -> Step:
    """The row's next state after `delivery`; `attempts` and `doubtful` are the counts before
    this try, `jitter` a number in [0, 1)."""
    tries, doubts = attempts + 1, doubtful + int(delivery.doubtful)
    if delivery.outcome == "sent":
        status = State.AMBIGUOUS if doubts else State.SENT
        note = _ambiguous_note(doubts)
        return Step(status, tries, doubts, note, None, delivery.provider_id, delivered=True)
    if delivery.outcome == "dead":
        return _final(tries, doubts, delivery.error)
    if delivery.doubtful and not may_retry_doubtful(channel, doubts):
        return Step(State.AMBIGUOUS, tries, doubts, f"{delivery.error}; {_doubt(channel)}")
    if tries >= MAX_ATTEMPTS:
        return _final(tries, doubts, f"gave up after {tries} attempts: {delivery.error}")
    wait = backoff(tries, delivery.retry_after, jitter)
    return Step(State.FAILED, tries, doubts, delivery.error, now + wait)


def _final(tries: int, doubts: int, error: str | None) -> Step:
    """No more tries: `dead`, unless an earlier try may have arrived after all."""
    if doubts:
        return Step(State.AMBIGUOUS, tries, doubts, f"{error}; an earlier try may have arrived")
    return Step(State.DEAD, tries, doubts, error)


def interrupted(channel: str, attempts: int, doubtful: int, now: datetime) -> Step:
    """A row left in `sending` by a dispatcher that died: the provider may have it."""
    doubts = doubtful + 1
    error = "interrupted while sending: the provider may have it"
    if may_retry_doubtful(channel, doubts):
        return Step(State.FAILED, attempts, doubts, f"{error}; tried once more", now)
    return Step(State.AMBIGUOUS, attempts, doubts, f"{error}; {_doubt(channel)}")


def may_retry_doubtful(channel: str, doubts: int) -> bool:
    return channel in RETRIED_WHEN_DOUBTFUL and doubts <= 1


def backoff(attempt: int, asked: float | None, jitter: float) -> timedelta:
    """Wait before the next try: doubling from FIRST_WAIT up to LONGEST_WAIT, with half of it
    random (so many rows failing together do not return together), and never less than the
    provider asked for."""
    ceiling: timedelta = min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(attempt - 1, 20))
    wait: timedelta = ceiling / 2 + ceiling / 2 * jitter
    if asked is not None and asked > 0:
        wait = max(wait, min(timedelta(seconds=asked), LONGEST_ASKED))
    return wait


def _doubt(channel: str) -> str:
    if channel in RETRIED_WHEN_DOUBTFUL:
        return "not sent again: it may already have arrived twice"
    return "not sent again: check whether it arrived, then `outreach queue retry KEY` to resend"


def _ambiguous_note(doubts: int) -> str | None:
    return "sent, but an earlier try may also have arrived" if doubts else None
