"""The SMTP channel: smtplib, plain, STARTTLS or SSL, credentials from the environment.

4xx answers and network trouble are worth a retry (421 and 451, the server busy, rest the
channel a while); 5xx answers are final. Trouble after the message went over the wire (DATA
was sent, no final answer came) is doubtful: the server may have taken it."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.addressing import mailbox, one_line, recipient
from outreach.adapters.channels.bodies import bodies
from outreach.clock import Clock, system_clock
from outreach.core.config import SmtpChannel as SmtpSettings
from outreach.core.outgoing import Outgoing


class SmtpChannel:
    def __init__(
        self,
        settings: SmtpSettings,
        username: str | None,
        password: str | None,
        clock: Clock = system_clock,  # the real one: a message's Date is when it went
    ) -> None:
        self.settings = settings
        self.username = username
        self.password = password
        self.clock = clock

    def send(self, outgoing: Outgoing) -> Delivery:
        try:
            message = build_message(outgoing, self.settings.from_, self.clock())
            # The envelope names the checked addresses: never what a header parser makes of
            # them (an address it cannot read becomes an empty RCPT TO).
            sender = mailbox(outgoing.sender or self.settings.from_)[1]
            to = recipient(outgoing)[1]
        except (LookupError, ValueError, HeaderParseError) as exc:
            return Delivery("dead", error=f"cannot build the email: {exc}")
        server: _Session | None = None
        try:
            server = self._connect()
            if self.username and self.password:
                server.login(self.username, self.password)
            refused = server.send_message(message, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPResponseException as exc:
            return _answer(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _answer(code, text)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            doubtful = server is not None and server.data_sent
            return Delivery("retry", error=f"SMTP {self.settings.host}: {exc}", doubtful=doubtful)
        finally:
            if server is not None:
                _hang_up(server)
        if refused:
            code, text = next(iter(refused.values()))
            return _answer(code, text)
        return Delivery("sent", provider_id=str(message["Message-ID"]))

    def _connect(self) -> _Session:
        settings = self.settings
        if settings.security == "ssl":
            return _SslSession(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        server = _Session(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            server.starttls(context=ssl.create_default_context())
        return server


class _Session(smtplib.SMTP):
    """Remembers whether the message may have gone out, to tell a doubtful failure. (Set when
    DATA begins: a connection lost during the DATA command itself is counted doubtful too,
    which errs on the safe side.)"""

    data_sent = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_sent = True
        return super().data(msg)


class _SslSession(_Session, smtplib.SMTP_SSL):
    pass


def build_message(outgoing: Outgoing, default_from: str, sent_at: datetime) -> EmailMessage:
    """The email for an outgoing message: RFC 5322 headers (names encoded when not ASCII, lines
    ending CRLF), the text and HTML as multipart/alternative. Addresses are re-parsed and
    set as Address objects, so no field can carry a line break or a second address into the
    headers; no header names the rule or the contact."""
    sender = _address(mailbox(outgoing.sender or default_from))
    message = EmailMessage(policy=SMTP)
    message["Date"] = sent_at
    message["From"] = sender
    message["To"] = _address(recipient(outgoing))
    if outgoing.reply_to:
        message["Reply-To"] = _address(mailbox(outgoing.reply_to))
    message["Subject"] = subject = one_line(outgoing.subject)
    if str(message["Subject"]) != subject:  # the email package decoded an encoded word
        raise ValueError("the subject holds MIME encoded-word syntax (=?...?=)")
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message["X-Outreach-Key"] = outgoing.idempotency_id
    text, html = bodies(outgoing)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for part in message.iter_parts():
        del part["MIME-Version"]  # the email package repeats it in parts; it belongs on top
    return message


def _address(mailbox: tuple[str, str]) -> Address:
    name, address = mailbox
    return Address(display_name=name, addr_spec=address)


def _said(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"SMTP {code} {one_line(said)}"


def _hang_up(server: _Session) -> None:
    """QUIT, minding nothing the server says: the message's fate was decided before."""
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


# The server wants credentials we do not have or it does not take: every message would fail
# alike, so the channel pauses instead.
AUTH_CODES = frozenset({530, 534, 535, 538})


# The server turns away whatever comes for now (too busy, too many messages, try later): the
# channel rests a short while (SMTP names no time) rather than offer it every row in turn.
BUSY_CODES = frozenset({421, 451})


def _answer(code: int, text: bytes | str) -> Delivery:
    if code in AUTH_CODES:
        return Delivery("paused", error=f"{_said(code, text)} (check the SMTP credentials)")
    if code in BUSY_CODES:
        return Delivery("retry", error=_said(code, text), rest_channel=True)
    return Delivery("retry" if 400 <= code < 500 else "dead", error=_said(code, text))
