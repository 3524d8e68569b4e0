"""The SendGrid channel: v3 Mail Send through the official client.

The client speaks urllib: HTTP answers come as `python_http_client` HTTPError subclasses
(with `.status_code`, `.headers`, `.body`); trouble before the request went out as URLError;
trouble after it (a dropped connection, a read timeout) raw, and then SendGrid may have the
message. SendGrid has no idempotency key, so our outbox key rides in `custom_args`, where its
event webhook and activity feed show it.
"""

from __future__ import annotations

import http.client
import json
import logging
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.addressing import mailbox, one_line, recipient
from outreach.adapters.channels.bodies import bodies
from outreach.adapters.channels.waiting import retried
from outreach.core.config import SendGridChannel as SendGridSettings
from outreach.core.outgoing import Outgoing
from outreach.redaction import bounded

# The client logs request headers, the API key among them, at DEBUG: never let it.
logging.getLogger("python_http_client").setLevel(logging.INFO)

RETRIED_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
KEY_ARG = "outreach_key"
KEY_HEADER = "X-Outreach-Key"


class SendGridChannel:
    def __init__(self, settings: SendGridSettings, api_key: str) -> None:
        self.settings = settings
        self.client = SendGridAPIClient(api_key=api_key, host=settings.host.rstrip("/"))

    def send(self, message: Outgoing) -> Delivery:
        try:
            body = mail_body(message, self.settings.from_)
        except (KeyError, ValueError) as exc:
            return Delivery("dead", error=f"cannot build the email: {exc}")
        try:
            response = self.client.client.mail.send.post(
                request_body=body, timeout=self.settings.timeout
            )
        except HTTPError as exc:
            return answer(exc.status_code, exc.headers, exc.body)
        except URLError as exc:  # the request did not go out: safe to try again
            return Delivery("retry", error=f"SendGrid unreachable: {exc.reason}")
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            error = f"no answer from SendGrid ({type(exc).__name__}: {exc})"
            return Delivery("retry", error=one_line(error), doubtful=True)
        return accepted(response.status_code, response.headers)


def mail_body(message: Outgoing, default_from: str) -> dict[str, Any]:
    """The v3 mail/send request for an outgoing email: the same recipient name, text and HTML
    parts and X-Outreach-Key as the SMTP channel's message. The outbox key in `custom_args` is
    for the operator (SendGrid's activity feed and event webhook); recipients never see it."""
    to = _address(*reversed(recipient(message)))
    text, html = bodies(message)
    content = [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}]
    body: dict[str, Any] = {
        "personalizations": [{"to": [to]}],
        "from": _address(*reversed(mailbox(message.sender or default_from))),
        "subject": one_line(message.subject),
        "content": content,
        "headers": {KEY_HEADER: message.idempotency_id},  # as on SMTP: what the recipient sees
        "custom_args": {KEY_ARG: message.key, "outreach_rule": message.rule_id},
    }
    if message.reply_to:
        body["reply_to"] = _address(*reversed(mailbox(message.reply_to)))
    return body


def _address(address: str, name: str) -> dict[str, str]:
    return {"email": address, "name": name} if name else {"email": address}


def accepted(status: int, headers: Any) -> Delivery:
    """A 2xx answer: sent, when it is SendGrid's (202 with the message's id). Anything else
    is another server at `host` (a web page answering 200): the message may not have gone,
    or may have; the channel rests while a person looks, and the row is not called sent."""
    message_id = headers.get("X-Message-Id") if headers is not None else None
    if status == 202 and message_id:
        return Delivery("sent", provider_id=str(message_id))
    error = (
        f"answered {status} without a message id: is channels.email.host SendGrid's API? "
        "(check it, then `outreach queue retry` what waits)"
    )
    return Delivery("retry", error=error, doubtful=True, retry_after=600, rest_channel=True)


def answer(status: int, headers: Any, body: bytes | str | None) -> Delivery:
    """What an HTTP error answer from SendGrid means for the row."""
    error = f"SendGrid {status}: {_errors(body)}"
    if status == 401:
        return Delivery("paused", error=f"{error} (check the API key)")
    if status in (404, 405):  # the address is wrong for every message alike
        return Delivery("paused", error=f"{error} (check channels.email.host)")
    if status in RETRIED_STATUSES:
        return retried(status, headers, error)
    return Delivery("dead", error=error)


def _errors(body: bytes | str | None) -> str:
    """SendGrid's own words, from its `{"errors": [{"message", "field"}]}` body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        found = json.loads(text).get("errors") or []
        said = "; ".join(
            one_line(e.get("message")) + (f" (field {e['field']})" if e.get("field") else "")
            for e in found
            if isinstance(e, dict)
        )
    except (ValueError, AttributeError):
        said = ""
    return said or bounded(one_line(text), 300) or "no details"
