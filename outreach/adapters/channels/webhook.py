"""The webhook channel: a JSON POST, signed when a secret is configured.

Receivers get two headers to trust and dedupe by:

    X-Outreach-Key        sha256 of the outbox key: the same action always has the same one
    X-Outreach-Signature  t=<unix time>,sha256=<hex HMAC-SHA256 of "<t>." + body> (with a secret)

The address is checked like a feed's: no private or loopback addresses unless
`network.allow_private` says so, and the connection is pinned to the address checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.addressing import one_line
from outreach.adapters.channels.files import sink_record
from outreach.adapters.channels.waiting import retried
from outreach.adapters.feeds.addresses import NoHost, Refused, guarded_transport
from outreach.core.outgoing import Outgoing
from outreach.redaction import bounded

RETRIED_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


class WebhookChannel:
    def __init__(
        self, url: str | None, secret: str | None, timeout: float, allow_private: bool
    ) -> None:
        self.url = url  # None: each row names its own (the webhook action's `url`)
        self.secret = secret.encode("utf-8") if secret else None
        self.timeout = timeout
        self.allow_private = allow_private

    def send(self, message: Outgoing) -> Delivery:
        url = message.url or self.url
        if not url:
            return Delivery("dead", error="no webhook url")
        body = request_body(message)
        deadline = time.monotonic() + self.timeout
        transport = guarded_transport(self.allow_private, deadline)
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as client:
                response = client.post(url, content=body, headers=self.headers(message, body))
        except Refused as exc:
            return Delivery("dead", error=f"webhook {_host(url)} refused: {exc}")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return Delivery("dead", error=f"webhook url {_host(url)} cannot be used: {exc}")
        except (NoHost, httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Delivery("retry", error=f"webhook {_host(url)} unreachable: {exc}")
        except httpx.HTTPError as exc:  # after the request went out: it may have arrived
            error = f"no answer from webhook {_host(url)} ({type(exc).__name__}: {exc})"
            return Delivery("retry", error=one_line(error), doubtful=True)
        return _answer(response, url, shared=url == self.url)

    def headers(self, message: Outgoing, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "outreach",
            "X-Outreach-Key": message.idempotency_id,
        }
        if self.secret is not None:
            headers["X-Outreach-Signature"] = signature(self.secret, body, int(time.time()))
        return headers


def request_body(message: Outgoing) -> bytes:
    """A webhook action posts its rendered JSON; a gift or task sink gets the action record."""
    if message.action == "webhook":
        return (message.text or "{}").encode("utf-8")
    return json.dumps(sink_record(message), ensure_ascii=False, default=str).encode("utf-8")


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    signed = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},sha256={signed}"


def _answer(response: httpx.Response, url: str, shared: bool) -> Delivery:
    status = response.status_code
    if 200 <= status < 300:
        return Delivery("sent", provider_id=response.headers.get("X-Request-Id") or str(status))
    error = f"webhook {_host(url)} answered {status}: {bounded(one_line(response.text), 200)}"
    if status in (401, 403) and shared:  # the sink refuses us: every row would fail alike
        return Delivery("paused", error=error)
    if status in RETRIED_STATUSES:
        return retried(status, response.headers, error)
    return Delivery("dead", error=error)


def _host(url: str) -> str:
    """The host only: a webhook url may carry a token in its path or query."""
    try:
        return httpx.URL(url).host or "?"
    except httpx.InvalidURL:
        return "?"
