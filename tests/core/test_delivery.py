"""The delivery policy: what a channel's answer makes of an outbox row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.core.delivery import (
    DEFAULT_REST,
    FIRST_WAIT,
    LONGEST_ASKED,
    LONGEST_PAUSE,
    LONGEST_WAIT,
    MAX_ATTEMPTS,
    SHORTEST_REST,
    Delivery,
    backoff,
    interrupted,
    next_wake,
    rest,
    settle,
)

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delivery", "channel", "doubtful", "status"),
    [
        (Delivery("sent", "id-1"), "email", 0, "sent"),
        (Delivery("sent", "id-1"), "email", 1, "ambiguous"),  # an earlier try may have arrived
        (Delivery("dead", error="400"), "email", 0, "dead"),
        (Delivery("retry", error="500"), "email", 0, "failed"),
        (Delivery("retry", error="timeout", doubtful=True), "email", 0, "failed"),
        (Delivery("retry", error="timeout", doubtful=True), "email", 1, "ambiguous"),
        (Delivery("retry", error="timeout", doubtful=True), "gifts", 0, "ambiguous"),
        (Delivery("retry", error="timeout", doubtful=True), "webhook", 0, "ambiguous"),
        (Delivery("retry", error="500"), "gifts", 0, "failed"),  # it surely did not arrive
        (Delivery("dead", error="400"), "email", 1, "ambiguous"),  # the first may have gone
    ],
)
def test_settle(delivery: Delivery, channel: str, doubtful: int, status: str) -> None:
    step = settle(delivery, channel, attempts=0, doubtful=doubtful, now=NOW, jitter=0.5)
    assert step.status == status
    assert step.attempts == 1
    assert (step.next_attempt_at is not None) == (status == "failed")


def test_a_sent_row_keeps_the_provider_id() -> None:
    step = settle(Delivery("sent", "msg-42"), "email", 0, 0, NOW, 0.0)
    assert step.provider_id == "msg-42" and step.error is None


def test_retries_stop_after_max_attempts() -> None:
    step = settle(Delivery("retry", error="503"), "email", MAX_ATTEMPTS - 1, 0, NOW, 0.0)
    assert step.status == "dead"
    assert f"gave up after {MAX_ATTEMPTS} attempts: 503" == step.error


def test_retries_that_end_after_a_doubtful_try_end_ambiguous() -> None:
    step = settle(Delivery("retry", error="503"), "email", MAX_ATTEMPTS - 1, 1, NOW, 0.0)
    assert step.status == "ambiguous"


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    assert backoff(1, None, 0.0) == FIRST_WAIT / 2
    assert backoff(1, None, 0.999) < FIRST_WAIT
    assert backoff(2, None, 0.0) == FIRST_WAIT
    assert backoff(30, None, 1.0) == LONGEST_WAIT


def test_backoff_honours_what_the_provider_asked_within_reason() -> None:
    assert backoff(1, 600, 0.0) == timedelta(seconds=600)
    assert backoff(1, 1.0, 0.0) == FIRST_WAIT / 2  # never sooner than our own backoff
    assert backoff(1, 10 * 86400, 0.0) == LONGEST_ASKED  # never hours because a header says so


def test_a_retry_waits_as_the_provider_asked() -> None:
    step = settle(Delivery("retry", error="429", retry_after=120), "email", 0, 0, NOW, 0.0)
    assert step.next_attempt_at == NOW + timedelta(seconds=120)


def test_an_interrupted_email_is_tried_once_more_then_called_ambiguous() -> None:
    first = interrupted("email", attempts=0, doubtful=0, now=NOW)
    assert (first.status, first.doubtful, first.next_attempt_at) == ("failed", 1, NOW)
    second = interrupted("email", attempts=0, doubtful=first.doubtful, now=NOW)
    assert second.status == "ambiguous"


@pytest.mark.parametrize("channel", ["gifts", "tasks", "webhook"])
def test_an_interrupted_gift_or_webhook_is_never_sent_blindly(channel: str) -> None:
    step = interrupted(channel, attempts=0, doubtful=0, now=NOW)
    assert step.status == "ambiguous"
    assert "outreach queue retry" in (step.error or "")


SECOND = timedelta(seconds=1)
LIMITED = Delivery("retry", error="SendGrid 429", retry_after=2.0, rest_channel=True)


@pytest.mark.parametrize(
    ("asked", "jitter", "until", "note"),
    [
        (2.0, 0.0, NOW + 2 * SECOND, None),  # just the provider's reset
        (2.0, 0.5, NOW + 3 * SECOND, None),  # + (1 s + 0.2 s) / 2, on a whole second
        (0.0, 0.0, NOW + SHORTEST_REST, None),  # the reset has passed: slow down all the same
        (-5.0, 0.0, NOW + SHORTEST_REST, None),
        (None, 0.0, NOW + DEFAULT_REST, "no wait named: resting 30 s"),
        (86_400.0, 0.0, NOW + LONGEST_ASKED, "asked to wait 86400 s: resting 15 min at most"),
        (1e300, 0.0, NOW + LONGEST_ASKED, "asked to wait 1e+300 s: resting 15 min at most"),
    ],
)
def test_a_channel_rests_as_long_as_the_provider_asked_within_reason(
    asked: float | None, jitter: float, until: datetime, note: str | None
) -> None:
    assert rest(asked, NOW, jitter).until == until
    assert rest(asked, NOW, jitter).note == note


def test_a_rest_ends_on_the_first_whole_second_after_the_reset() -> None:
    now = NOW + timedelta(microseconds=250_000)
    assert rest(1.75, now, 0.0).until == NOW + 2 * SECOND
    assert rest(1.8, now, 0.0).until == NOW + 3 * SECOND


@given(
    asked=st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e12)),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_a_rest_is_never_shorter_than_asked_nor_longer_than_any_pause(
    asked: float | None, jitter: float
) -> None:
    wait = rest(asked, NOW, jitter).until - NOW
    wanted = DEFAULT_REST
    if asked is not None:
        wanted = min(max(timedelta(seconds=max(asked, 0.0)), SHORTEST_REST), LONGEST_ASKED)
    assert wanted <= wait <= wanted + SECOND + wanted / 10 + SECOND
    assert wait <= LONGEST_PAUSE


def test_a_rate_limited_row_goes_again_when_the_channels_rest_ends() -> None:
    step = settle(LIMITED, "email", 0, 0, NOW, 0.3)
    assert step.status == "failed" and step.attempts == 1
    assert step.rest is not None and step.rest.until <= NOW + 3 * SECOND
    assert step.next_attempt_at == step.rest.until  # not FIRST_WAIT: the limit is the channel's


def test_a_row_rate_limited_again_follows_its_own_backoff() -> None:
    second = settle(LIMITED, "email", 1, 0, NOW, 0.0)
    assert second.rest is not None and second.rest.until == NOW + 2 * SECOND
    assert second.next_attempt_at == NOW + backoff(1, None, 0.0)
    third = settle(LIMITED, "email", 2, 0, NOW, 0.0)
    assert third.next_attempt_at == NOW + backoff(2, None, 0.0)


def test_a_rate_limit_rests_the_channel_whatever_becomes_of_the_row() -> None:
    last = settle(LIMITED, "email", MAX_ATTEMPTS - 1, 0, NOW, 0.0)
    assert last.status == "dead" and last.rest is not None
    doubtful = Delivery("retry", error="no id", retry_after=600, doubtful=True, rest_channel=True)
    gift = settle(doubtful, "gifts", 0, 0, NOW, 0.0)
    assert gift.status == "ambiguous" and gift.rest == rest(600, NOW, 0.0)
    assert (
        settle(Delivery("retry", error="500", retry_after=2.0), "email", 0, 0, NOW, 0.0).rest
        is None
    )


LATER = NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("moments", "rests", "wake"),
    [
        ({}, {}, None),
        ({"email": [NOW - SECOND]}, {}, None),  # could go, did not: held; no reason to wake
        ({"email": [NOW - SECOND]}, {"email": NOW + 3 * SECOND}, NOW + 3 * SECOND),
        ({"email": [NOW - SECOND, LATER]}, {}, LATER),  # a retry to come
        ({"email": [LATER]}, {"email": NOW + 3 * SECOND}, LATER),  # the rest ends first
        ({"email": [NOW]}, {"gifts": NOW + 3 * SECOND}, None),  # another channel's rest
        ({"email": [LATER], "gifts": [NOW - SECOND]}, {"gifts": NOW + SECOND}, NOW + SECOND),
    ],
)
def test_next_wake(
    moments: dict[str, list[datetime]], rests: dict[str, datetime], wake: datetime | None
) -> None:
    assert next_wake(moments, rests, NOW) == wake
