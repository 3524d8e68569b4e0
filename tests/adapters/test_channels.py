"""Channels against real endpoints: a JSONL file, and a real SMTP server (aiosmtpd) on
localhost answering 250, 451 and 550."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from helpers import free_port, outgoing_email

from outreach.adapters.channels import Delivery
from outreach.adapters.channels.files import FileChannel
from outreach.adapters.channels.smtp import SmtpChannel
from outreach.core.config import SmtpChannel as SmtpSettings
from outreach.core.keys import opaque_id


class Recorder:
    """An SMTP server's handler: keeps what it accepts; answers RCPT as told."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.rcpt_answer = "250 OK"
        self.drop_after_data = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.rcpt_answer.startswith("250"):
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        if self.drop_after_data:  # took the message, then the line went dead
            server.transport.close()
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, SmtpChannel]]:
    handler, port = Recorder(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, SmtpChannel(settings_for(port), None, None)
    finally:
        controller.stop()


def settings_for(port: int, timeout: float = 5) -> SmtpSettings:
    return SmtpSettings.model_validate(
        {
            "provider": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "from": "Acme <hello@acme.test>",
            "timeout": timeout,
        }
    )


def send_once(
    controller: Controller, port: int, username: str | None = None, password: str | None = None
) -> Delivery:
    """Start the server, send one row through a channel pointed at it, stop the server."""
    controller.start()
    try:
        return SmtpChannel(settings_for(port), username, password).send(outgoing_email())
    finally:
        controller.stop()


def test_an_email_arrives_with_the_owner_as_sender_and_reply_to(smtp) -> None:
    handler, channel = smtp
    delivery = channel.send(outgoing_email())
    assert delivery.outcome == "sent" and delivery.provider_id
    (raw,) = handler.messages
    email = message_from_bytes(raw, policy=default)
    assert email["From"] == "Anna Jónsdóttir <anna@acme.test>"
    assert email["To"] == "ada@client.test"
    assert email["Reply-To"] == "anna@acme.test"
    assert email["Subject"] == "Happy birthday, Ada!"
    assert email["X-Outreach-Key"].strip() == opaque_id("birthday:c-1:2026")  # folded: long
    assert email["Message-ID"] == delivery.provider_id
    assert email.get_body(("plain",)).get_content().startswith("Dear Ada,")
    assert email.get_body(("html",)).get_content().strip() == "<p>Dear Ada,</p>"


def test_a_stored_subject_that_would_decode_into_a_header_is_never_sent(smtp) -> None:
    handler, channel = smtp
    row = replace(outgoing_email(), subject="Hi =?utf-8?b?DQpCY2M6IGFsbEBldmlsLnRlc3Q=?=")
    delivery = channel.send(row)
    assert delivery.outcome == "dead" and "encoded-word" in (delivery.error or "")
    assert handler.messages == []


def test_an_idn_sender_is_written_in_the_form_dns_knows(smtp) -> None:
    handler, channel = smtp
    channel.settings = channel.settings.model_copy(update={"from_": "Dæmi <hello@dæmi.is>"})
    row = outgoing_email(**{"from": None, "reply_to": "Ása <asa@dæmi.is>"})
    assert channel.send(row).outcome == "sent"
    email = message_from_bytes(handler.messages[0], policy=default)
    assert email["From"].addresses[0].addr_spec == "hello@xn--dmi-yla.is"
    assert email["Reply-To"].addresses[0].addr_spec == "asa@xn--dmi-yla.is"
    assert email["Message-ID"].endswith("@xn--dmi-yla.is>")
    assert b"=?utf-8?q?d" not in handler.messages[0]  # no encoded word inside an address


@pytest.mark.parametrize(
    ("answer", "outcome", "rest"),
    [
        ("451 4.3.0 try again later", "retry", True),  # the server is busy: the channel rests
        ("421 4.7.0 too many messages, slow down", "retry", True),
        ("450 4.2.1 mailbox busy", "retry", False),  # this mailbox, not the server
        ("550 5.1.1 no such user", "dead", False),
    ],
)
def test_4xx_is_worth_a_retry_and_5xx_is_final(smtp, answer: str, outcome: str, rest) -> None:
    handler, channel = smtp
    handler.rcpt_answer = answer
    delivery = channel.send(outgoing_email())
    assert delivery.outcome == outcome and delivery.rest_channel == rest
    assert delivery.retry_after is None  # SMTP names no time: the core's short default
    assert answer.split()[0] in (delivery.error or "")
    assert handler.messages == []


def test_a_connection_lost_after_the_message_went_is_doubtful(smtp) -> None:
    handler, channel = smtp
    handler.drop_after_data = True
    delivery = channel.send(outgoing_email())
    assert delivery.outcome == "retry" and delivery.doubtful
    assert len(handler.messages) == 1


def refuse_everyone(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


def test_a_refused_login_pauses_the_channel_and_hides_the_password() -> None:
    port = free_port()
    controller = Controller(
        Recorder(),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=refuse_everyone,
    )
    delivery = send_once(controller, port, "anna", "pa55word")
    assert delivery.outcome == "paused" and "535" in (delivery.error or "")
    assert "pa55word" not in (delivery.error or "")


def test_no_server_is_worth_a_retry() -> None:
    channel = SmtpChannel(settings_for(free_port(), timeout=2), None, None)
    assert channel.send(outgoing_email()).outcome == "retry"


def test_no_field_can_inject_a_header(smtp) -> None:
    handler, channel = smtp
    evil = outgoing_email(**{"from": "Anna\r\nBcc: victim@evil.test <anna@acme.test>"})
    evil = replace(evil, subject="Hi\r\nBcc: victim@evil.test")
    assert channel.send(evil).outcome == "sent"
    (raw,) = handler.messages
    email = message_from_bytes(raw, policy=default)
    assert email["Bcc"] is None
    assert "\n" not in email["Subject"] and "\n" not in email["From"]


def test_the_file_channel_appends_one_json_line_per_action(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path / "out/gifts.jsonl")
    gift = outgoing_email(
        "pencil:c-1:purchase-p-9", item="Graphite pencil, engraved", ship_by="2026-12-01"
    )
    assert channel.send(gift).outcome == "sent"
    assert channel.send(outgoing_email("pencil:c-2:purchase-p-10")).outcome == "sent"
    lines = (tmp_path / "out/gifts.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 2
    assert first["key"] == "pencil:c-1:purchase-p-9"
    assert first["item"] == "Graphite pencil, engraved" and first["ship_by"] == "2026-12-01"


def test_an_unwritable_sink_is_worth_a_retry(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file where a folder should be")
    assert FileChannel(tmp_path / "out/gifts.jsonl").send(outgoing_email()).outcome == "retry"


class _GrumpyQuit(SMTP):
    async def smtp_QUIT(self, arg: str) -> None:
        await self.push("421 4.3.0 closing anyway")
        self.transport.close()


class _GrumpyController(Controller):
    def factory(self) -> SMTP:
        return _GrumpyQuit(self.handler)


def test_what_the_server_says_to_quit_does_not_undo_a_delivery() -> None:
    handler, port = Recorder(), free_port()
    delivery = send_once(_GrumpyController(handler, hostname="127.0.0.1", port=port), port)
    assert delivery.outcome == "sent" and len(handler.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_that_wants_a_login_pauses_the_channel() -> None:
    port = free_port()
    controller = Controller(
        Recorder(), hostname="127.0.0.1", port=port, auth_required=True, auth_require_tls=False
    )
    delivery = send_once(controller, port)
    assert delivery.outcome == "paused" and "530" in (delivery.error or "")
