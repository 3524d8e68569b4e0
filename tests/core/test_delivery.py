"""The delivery policy: what a channel's answer makes of an outbox row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outreach.core.delivery import (
    FIRST_WAIT,
    LONGEST_WAIT,
    MAX_ATTEMPTS,
    Delivery,
    backoff,
    interrupted,
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
    assert backoff(1, 10 * 86400, 0.0) == timedelta(days=1)


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
