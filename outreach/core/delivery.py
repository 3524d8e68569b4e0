"""What happens to an outbox row after a channel tried it: pure policy, no I/O.

A channel answers with a `Delivery`; `settle` turns it into the row's next state:

    sent                        -> sent (or ambiguous, when an earlier try may have arrived)
    dead                        -> dead, with the provider's error (or ambiguous, when an
                                   earlier try may have arrived: sending it again by hand
                                   could make two)
    retry                       -> failed, tried again after an exponential backoff with
                                   jitter (at least what the provider asked for), until
                                   MAX_ATTEMPTS answers; then dead
    retry, rest_channel         -> the same, and the whole channel rests (a rate limit): until
                                   the provider's time plus a little jitter, `rest`; the row
                                   that was refused goes again when the rest ends, or after
                                   its own backoff when it was refused before
    retry, doubtful             -> the provider may have it (a dropped connection after the
                                   request went out, a read timeout): an email is tried once
                                   more and then called ambiguous; anything else is ambiguous
                                   at once, for a person to check: a gift is never sent twice
    paused                      -> the row is untouched; the channel rests (bad credentials)

`interrupted` does the same for a row found in `sending` after its dispatcher died.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from outreach.core.outbox import State

Outcome = Literal["sent", "retry", "dead", "paused"]

MAX_ATTEMPTS = 8
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
# A provider asking for more is not taken at its word (a garbled or hostile header must not
# stop a channel for hours); one that names no time a channel can read gets DEFAULT_REST.
LONGEST_ASKED = timedelta(minutes=15)
DEFAULT_REST = timedelta(seconds=30)
SHORTEST_REST = timedelta(seconds=1)  # a reset already past: slow down all the same
PAUSE_ON_REFUSAL = timedelta(minutes=10)
# No pause outreach makes is longer (a stored one that is, is not outreach's: it is ignored).
LONGEST_PAUSE = max(PAUSE_ON_REFUSAL, LONGEST_ASKED * 1.1 + timedelta(seconds=2))
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
    rest_channel: bool = False  # the whole channel waits too (a 429): see `rest`


@dataclass(frozen=True, slots=True)
class Rest:
    """Until when a channel sends nothing, and why not what the provider asked (for the log)."""

    until: datetime
    note: str | None = None


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
    rest: Rest | None = None  # the whole channel waits too (a rate limit)


def rest(asked: float | None, now: datetime, jitter: float) -> Rest:
    """The channel's rest after a rate limit: the provider's wait (`asked` seconds; at least
    SHORTEST_REST, at most LONGEST_ASKED, DEFAULT_REST when it named none), plus up to a second
    and a tenth of it at random (dispatchers sharing an account do not all come back at one
    instant), ended on a whole second (providers count in whole seconds; the store keeps
    them)."""
    wait, note = _asked(asked), None
    if asked is None:
        wait, note = DEFAULT_REST, f"no wait named: resting {DEFAULT_REST.seconds} s"
    elif asked > LONGEST_ASKED.total_seconds():
        most = f"{LONGEST_ASKED.seconds // 60} min"
        note = f"asked to wait {asked:g} s: resting {most} at most"
    wait = max(wait, SHORTEST_REST)
    return Rest(_whole_second(now + wait + (timedelta(seconds=1) + wait / 10) * jitter), note)


def _asked(asked: float | None) -> timedelta:
    """What the provider asked for, within reason (none: none)."""
    return timedelta(seconds=min(max(0.0, asked or 0.0), LONGEST_ASKED.total_seconds()))


def _whole_second(moment: datetime) -> datetime:
    """`moment`, or the first whole second after it."""
    if not moment.microsecond:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def settle(
    delivery: Delivery, channel: str, attempts: int, doubtful: int, now: datetime, jitter: float
) -> Step:
    """The row's next state after `delivery`, and the channel's rest if it must rest;
    `attempts` and `doubtful` are the counts before this try, `jitter` a number in [0, 1)."""
    resting = rest(delivery.retry_after, now, jitter) if delivery.rest_channel else None
    tries, doubts = attempts + 1, doubtful + int(delivery.doubtful)
    retry_at = _retry_at(tries, delivery.retry_after, resting, now, jitter)
    return replace(_next(delivery, channel, tries, doubts, retry_at), rest=resting)


def _next(delivery: Delivery, channel: str, tries: int, doubts: int, retry_at: datetime) -> Step:
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
    return Step(State.FAILED, tries, doubts, delivery.error, retry_at)


def _retry_at(
    tries: int, asked: float | None, resting: Rest | None, now: datetime, jitter: float
) -> datetime:
    if resting is None:
        return now + backoff(tries, asked, jitter)
    # A rate limit is the channel's, not the row's: refused once, it goes when the rest ends;
    # refused again, it backs off like any row that keeps failing.
    own = backoff(tries - 1, None, jitter) if tries > 1 else timedelta(0)
    return max(resting.until, now + own)


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
    provider asked for (up to LONGEST_ASKED)."""
    ceiling: timedelta = min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(attempt - 1, 20))
    wait: timedelta = ceiling / 2 + ceiling / 2 * jitter
    return max(wait, _asked(asked))


def _doubt(channel: str) -> str:
    if channel in RETRIED_WHEN_DOUBTFUL:
        return "not sent again: it may already have arrived twice"
    return "not sent again: check whether it arrived, then `outreach queue retry KEY` to resend"


def _ambiguous_note(doubts: int) -> str | None:
    return "sent, but an earlier try may also have arrived" if doubts else None


def next_wake(
    moments: Mapping[str, Iterable[datetime]], rests: Mapping[str, datetime], now: datetime
) -> datetime | None:
    """The first moment after `now` at which a row may go: its own moment (a pending row's
    send time, a failed row's next attempt), or the end of its channel's rest when that comes
    later. `moments` holds rows' moments by channel (each channel's earliest, and its earliest
    after `now`, are enough). A row that may go now but did not waits for something else."""
    ready = (max(m, rests.get(channel, m)) for channel, ms in moments.items() for m in ms)
    return min((moment for moment in ready if moment > now), default=None)
