"""The SMTP channel: smtplib, plain, STARTTLS or SSL, credentials from the environment.

4xx answers and network trouble are worth a retry; 5xx answers are final."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr

from outreach.adapters.channels import Delivery
from outreach.adapters.store.outbox import OutboxRow
from outreach.core.config import SmtpChannel as SmtpSettings


class SmtpChannel:
    def __init__(self, settings: SmtpSettings, username: str | None, password: str | None):
        self.settings = settings
        self.username = username
        self.password = password

    def send(self, row: OutboxRow) -> Delivery:
        try:
            message = build_message(row, self.settings.from_)
        except (KeyError, ValueError) as exc:
            return Delivery("dead", error=f"cannot build the email: {exc}")
        try:
            with self._connect() as server:
                if self.username and self.password:
                    server.login(self.username, self.password)
                refused = server.send_message(message)
        except smtplib.SMTPResponseException as exc:
            return _answer(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _answer(code, text)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return Delivery("retry", error=f"SMTP {self.settings.host}: {exc}")
        if refused:
            code, text = next(iter(refused.values()))
            return _answer(code, text)
        return Delivery("sent", provider_id=str(message["Message-ID"]))

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        if settings.security == "ssl":
            return smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            server.starttls(context=ssl.create_default_context())
        return server


def build_message(row: OutboxRow, default_from: str) -> EmailMessage:
    """The email for an outbox row. Addresses are re-parsed and names encoded by the email
    package, so no field can carry a line break into the headers."""
    payload, details = row.payload, row.payload.get("details", {})
    message = EmailMessage()
    message["From"] = _mailbox(details.get("from") or default_from)
    message["To"] = _mailbox(details["to"])
    if details.get("reply_to"):
        message["Reply-To"] = _mailbox(details["reply_to"])
    message["Subject"] = " ".join(str(payload.get("subject") or "").split())
    message["Message-ID"] = make_msgid(domain=parseaddr(message["From"])[1].split("@")[-1])
    message["X-Outreach-Key"] = " ".join(row.key.split())
    message.set_content(payload.get("text") or "")
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def _mailbox(text: str) -> str:
    name, address = parseaddr(" ".join(str(text).split()))
    if not address or "@" not in address:
        raise ValueError(f"not an address: {text!r}")
    return formataddr((name, address))


def _answer(code: int, text: bytes | str) -> Delivery:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    error = f"SMTP {code} {' '.join(said.split())}"
    return Delivery("retry" if 400 <= code < 500 else "dead", error=error)
