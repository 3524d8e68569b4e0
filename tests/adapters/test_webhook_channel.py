"""The webhook channel against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import outgoing_email

from outreach.adapters.channels.webhook import WebhookChannel, signature


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # status codes to give, then 200
    headers: dict[str, str] = field(default_factory=dict)  # sent with every answer
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    drop: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.seen.append((dict(self.headers), body))
            if state.drop:
                self.close_connection = True
                return
            self.send_response(state.answers.pop(0) if state.answers else 200)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/outreach"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def sink(url: str, secret: str | None = None, allow_private: bool = True) -> WebhookChannel:
    return WebhookChannel(url, secret, timeout=5, allow_private=allow_private)


def gift_row() -> Any:
    row = outgoing_email("pencil:c-1:purchase-p-9", item="Graphite pencil", ship_by="2026-12-01")
    return replace(row, action="gift", channel="gifts")


def test_a_gift_task_is_posted_as_json_and_signed(receiver: Receiver) -> None:
    delivery = sink(receiver.url, secret="s3cret").send(gift_row())
    assert delivery.outcome == "sent"
    ((headers, body),) = receiver.seen
    record = json.loads(body)
    assert record["key"] == "pencil:c-1:purchase-p-9" and record["item"] == "Graphite pencil"
    stamp = headers["X-Outreach-Signature"].split(",")[0].removeprefix("t=")
    expected = hmac.new(b"s3cret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Outreach-Signature"] == f"t={stamp},sha256={expected}"
    assert headers["X-Outreach-Key"] == hashlib.sha256(b"pencil:c-1:purchase-p-9").hexdigest()


def test_without_a_secret_nothing_is_signed(receiver: Receiver) -> None:
    sink(receiver.url).send(gift_row())
    ((headers, _),) = receiver.seen
    assert "X-Outreach-Signature" not in headers


def test_a_webhook_action_posts_its_rendered_body_to_its_own_url(receiver: Receiver) -> None:
    row = replace(
        outgoing_email(url=receiver.url),
        action="webhook",
        channel="webhook",
        text='{"event": "milestone", "contact": "c-1"}',
    )
    assert WebhookChannel(None, None, 5, allow_private=True).send(row).outcome == "sent"
    assert json.loads(receiver.seen[0][1]) == {"event": "milestone", "contact": "c-1"}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, "retry"), (429, "retry"), (400, "dead"), (404, "dead"), (401, "paused")],
)
def test_answers(receiver: Receiver, status: int, outcome: str) -> None:
    receiver.answers.append(status)
    delivery = sink(receiver.url).send(gift_row())
    assert delivery.outcome == outcome and not delivery.doubtful
    assert f"answered {status}" in (delivery.error or "")


@pytest.mark.parametrize(
    ("status", "headers", "rest", "wait"),
    [
        (429, {"Retry-After": "7"}, True, 7.0),
        (429, {}, True, None),  # rests all the same, for the core's default
        (503, {"Retry-After": "120"}, True, 120.0),  # the service says when it is back
        (503, {}, False, None),
        (500, {"Retry-After": "5"}, False, 5.0),  # this row waits that long; the rest go on
    ],
)
def test_a_rate_limit_or_an_outage_with_a_time_rests_the_channel(
    receiver: Receiver, status: int, headers: dict[str, str], rest: bool, wait: float | None
) -> None:
    receiver.answers.append(status)
    receiver.headers = headers
    delivery = sink(receiver.url).send(gift_row())
    assert delivery.outcome == "retry"
    assert (delivery.rest_channel, delivery.retry_after) == (rest, wait)


def test_a_dropped_answer_is_doubtful(receiver: Receiver) -> None:
    receiver.drop = True
    delivery = sink(receiver.url).send(gift_row())
    assert delivery.outcome == "retry" and delivery.doubtful


def test_private_addresses_are_refused_unless_allowed(receiver: Receiver) -> None:
    delivery = sink(receiver.url, allow_private=False).send(gift_row())
    assert delivery.outcome == "dead" and "network.allow_private" in (delivery.error or "")
    assert receiver.seen == []


def test_the_url_never_shows_in_errors(receiver: Receiver) -> None:
    receiver.answers.append(500)
    delivery = sink(receiver.url + "?token=abc123").send(gift_row())
    assert "abc123" not in (delivery.error or "") and "127.0.0.1" in (delivery.error or "")


def test_signature_is_stable() -> None:
    assert signature(b"k", b"{}", 1) == (
        "t=1,sha256=" + hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()
    )
