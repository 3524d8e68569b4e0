"""The SendGrid channel against a local server that speaks v3 mail/send and checks every
request body against SendGrid's own OpenAPI spec (when ../shared has it)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from fake_sendgrid import SPEC_MISSING, Drop, FakeSendGrid, Reply, Stall, spec_path
from helpers import outgoing_email

from outreach.adapters.channels.sendgrid import SendGridChannel
from outreach.adapters.channels.waiting import retry_after
from outreach.core.config import SendGridChannel as SendGridSettings

needs_spec = pytest.mark.skipif(not spec_path().is_file(), reason=SPEC_MISSING)


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


def channel(server: FakeSendGrid, key: str | None = None, timeout: float = 5) -> SendGridChannel:
    settings = SendGridSettings.model_validate(
        {"provider": "sendgrid", "from": "Acme <hello@acme.test>", "host": server.url,
         "timeout": timeout}
    )  # fmt: skip
    return SendGridChannel(settings, key or server.api_key)


def test_a_note_goes_from_the_owner_with_our_key_in_custom_args(server: FakeSendGrid) -> None:
    delivery = channel(server).send(outgoing_email(to_name="Ada Lovelace"))
    assert delivery.outcome == "sent" and delivery.provider_id
    (body,) = server.accepted
    assert body["from"] == {"email": "anna@acme.test", "name": "Anna Jónsdóttir"}
    assert body["reply_to"] == {"email": "anna@acme.test"}
    assert body["personalizations"] == [
        {"to": [{"email": "ada@client.test", "name": "Ada Lovelace"}]}
    ]
    assert body["custom_args"]["outreach_key"] == "birthday:c-1:2026"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert server.seen("birthday:c-1:2026") == 1


@needs_spec
def test_every_request_body_matches_sendgrids_openapi_spec(server: FakeSendGrid) -> None:
    assert server.validating
    for row in (
        outgoing_email(),
        outgoing_email("k:2", reply_to=None, to_name="Jón Jónsson"),
        outgoing_email("k:3", **{"from": None}),  # the channel's own sender
    ):
        assert channel(server).send(row).outcome == "sent"
    assert server.spec_errors == []


def test_no_line_break_reaches_a_field(server: FakeSendGrid) -> None:
    evil = outgoing_email(to_name="Ada\r\nBcc: all@evil.test")
    evil = replace(evil, subject="Hi\r\nBcc: all@evil.test")
    assert channel(server).send(evil).outcome == "sent"
    (body,) = server.accepted
    assert body["subject"] == "Hi Bcc: all@evil.test"
    assert body["personalizations"][0]["to"] == [{"email": "ada@client.test"}]  # bare


def test_a_broken_address_is_dead_without_asking_sendgrid(server: FakeSendGrid) -> None:
    delivery = channel(server).send(outgoing_email(to="not an address"))
    assert delivery.outcome == "dead" and "not an address" in (delivery.error or "")
    assert server.requests == []


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(500), "retry"),
        (Reply(503), "retry"),
        (Reply(400, body={"errors": [{"message": "bad from", "field": "from"}]}), "dead"),
        (Reply(403), "dead"),
        (Reply(413), "dead"),
        (Reply(401), "paused"),
    ],
)
def test_answers(server: FakeSendGrid, reply: Reply, outcome: str) -> None:
    server.script(reply)
    delivery = channel(server).send(outgoing_email())
    assert delivery.outcome == outcome
    assert f"SendGrid {reply.status}" in (delivery.error or "")
    assert not delivery.doubtful


def test_the_providers_error_words_are_kept(server: FakeSendGrid) -> None:
    server.script(Reply(400, body={"errors": [{"message": "bad from", "field": "from"}]}))
    assert channel(server).send(outgoing_email()).error == "SendGrid 400: bad from (field from)"


def test_a_wrong_key_pauses_and_never_shows_the_key(server: FakeSendGrid) -> None:
    delivery = channel(server, key="SG.wrong-secret-value").send(outgoing_email())
    assert delivery.outcome == "paused"
    assert "wrong-secret" not in (delivery.error or "")


def test_a_rate_limit_says_when_to_come_back(server: FakeSendGrid) -> None:
    reset = int(time.time()) + 90
    server.script(Reply(429, headers={"X-RateLimit-Reset": str(reset)}))
    delivery = channel(server).send(outgoing_email())
    assert delivery.outcome == "retry" and delivery.rest_channel
    assert 80 < (delivery.retry_after or 0) <= 90


def test_an_outage_with_a_time_rests_the_channel_too(server: FakeSendGrid) -> None:
    server.script(Reply(503, headers={"Retry-After": "20"}), Reply(503))
    named, unnamed = channel(server).send(outgoing_email()), channel(server).send(outgoing_email())
    assert (named.rest_channel, named.retry_after) == (True, 20)
    assert (unnamed.rest_channel, unnamed.retry_after) == (False, None)


def test_a_header_that_cannot_be_read_is_logged_and_the_other_one_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = 1_800_000_000.0
    headers = {"Retry-After": "soon", "X-RateLimit-Reset": str(int(now) + 3)}
    assert retry_after(headers, now) == 3
    assert retry_after({"X-RateLimit-Reset": "tomorrow"}, now) is None
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert logged == [
        "ignored Retry-After 'soon': not a time outreach can read",
        "ignored X-RateLimit-Reset 'tomorrow': not a time outreach can read",
    ]


def test_retry_after_reads_seconds_dates_and_resets() -> None:
    now = 1_800_000_000.0
    date = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after({"Retry-After": "12"}, now) == 12
    assert retry_after({"Retry-After": date}, now) == 30
    assert retry_after({"X-RateLimit-Reset": str(int(now) + 45)}, now) == 45
    assert retry_after({"Retry-After": "soon"}, now) is None
    assert retry_after({}, now) is None
    assert retry_after({"Retry-After": "inf"}, now) is None
    assert retry_after({"X-RateLimit-Reset": "99999999999999"}, now) == 99999999999999 - now
    assert retry_after({"Retry-After": "-5"}, now) == 0


@pytest.mark.parametrize("accepted", [True, False])
def test_a_connection_dropped_after_the_request_is_doubtful(
    server: FakeSendGrid, accepted: bool
) -> None:
    server.script(Drop(after_accept=accepted))
    delivery = channel(server).send(outgoing_email())
    assert delivery.outcome == "retry" and delivery.doubtful
    assert server.seen("birthday:c-1:2026") == int(accepted)


def test_no_answer_in_time_is_doubtful(server: FakeSendGrid) -> None:
    server.script(Stall(2))
    started = time.monotonic()
    delivery = channel(server, timeout=0.3).send(outgoing_email())
    assert delivery.outcome == "retry" and delivery.doubtful
    assert time.monotonic() - started < 1.5


def test_no_server_is_a_clean_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SendGridSettings.model_validate(
        {"provider": "sendgrid", "from": "a@b.test", "host": f"http://127.0.0.1:{port}"}
    )
    delivery = SendGridChannel(settings, "SG.key").send(outgoing_email())
    assert delivery.outcome == "retry" and not delivery.doubtful
    assert "unreachable" in (delivery.error or "")


def test_a_comma_in_a_display_name_is_no_trouble(server: FakeSendGrid) -> None:
    row = outgoing_email(**{"from": "Taylor, Sam <sam@acme.test>"}, to_name="Lovelace, Ada")
    assert channel(server).send(row).outcome == "sent"
    (body,) = server.accepted
    assert body["from"] == {"email": "sam@acme.test", "name": "Taylor, Sam"}
    assert body["personalizations"][0]["to"][0]["name"] == "Lovelace, Ada"


@pytest.mark.parametrize(
    "reply", [Reply(200, body={"rss": "a web page"}), Reply(202, {"X-Message-Id": ""})]
)
def test_an_answer_that_is_not_sendgrids_is_never_called_sent(
    server: FakeSendGrid, reply: Reply
) -> None:
    """`host` pointing at another server that answers 200 (or a 202 without the message's
    id): the row is doubtful, the channel rests, and nothing is recorded as sent."""
    server.script(reply)
    delivery = channel(server).send(outgoing_email())
    assert delivery.outcome == "retry" and delivery.doubtful and delivery.rest_channel
    assert "without a message id" in (delivery.error or "")
