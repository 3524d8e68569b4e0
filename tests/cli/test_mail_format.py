"""Emails as a recipient's mail server reads them: `outreach run` and `send-test` against a
real SMTP server (aiosmtpd) and the SendGrid stand-in, the raw message parsed by the `email`
package. Every message has a Date from the real clock, the contact's name beside the address
(the same on both channels), text and HTML as multipart/alternative, and no header that
names the rule or the contact."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from fake_sendgrid import FakeSendGrid
from helpers import make_workspace, run_cli
from local_smtp import Mailbox

DUE = "2026-06-10T10:00:00+00:00"  # a birthday on 06-10 is due (09:00, within 2 days)
RULE_ID = "feedback-detractor"  # a rule id the client must never see
RULES = f"""\
rules:
  - id: {RULE_ID}
    trigger:
      birthday: {{}}
    action:
      email: {{template: birthday}}
    schedule: {{at: "09:00", late_by_at_most: 2d}}
  - id: birthday-gift
    trigger:
      birthday: {{}}
    action:
      gift: {{item: Pencil, budget: {{amount: 10, currency: EUR}}, card: card}}
    approval: required
"""
TEMPLATES = {  # text only: the HTML part is the channel's to add
    "birthday.j2": "{% block subject %}Til hamingju, {{ contact.first_name }}!{% endblock %}"
    "{% block text %}Kæra {{ contact.first_name }},\n\ngóðar kveðjur.{% endblock %}",
    "card.j2": "{% block text %}Happy birthday & <all> the best{% endblock %}",
}

HOSTILE = 'Eve" <boss@acme.test>, "Mallory'
# (first name, last name) -> the display name To shows ("" for the bare address)
NAMES = {
    "client-0001": (("Þórunn", "Sigurðardóttir"), "Þórunn Sigurðardóttir"),
    "client-0002": (("Олена", "Шевченко"), "Олена Шевченко"),
    "client-0003": (("Արամ", "Պետրոսյան"), "Արամ Պետրոսյան"),
    "client-0004": ((HOSTILE, ""), ""),  # poses as another mailbox: the bare address
    "client-0005": (("Mallory\r\nBcc: all@evil.test", ""), ""),  # header injection
    "client-0006": (('O\'Brien, "Sam"\x07\u202e', "Lee"), "O'Brien, Sam Lee"),
    "client-0007": (("", ""), ""),  # no name known: never the contact id
    "client-0008": (("Bob", "=?utf-8?b?Ym9zc0BhY21lLnRlc3Q=?="), ""),  # decodes to an address
}


def contacts() -> list[dict[str, str]]:
    return [
        {"id": cid, "first_name": first, "last_name": last, "email": f"p{n}@client.test",
         "birthday": "1980-06-10", "address_line1": "Aðalstræti 1", "city": "Reykjavík"}
        for n, (cid, ((first, last), _)) in enumerate(NAMES.items())
    ]  # fmt: skip


def workspace(root: Path, email: dict[str, object]) -> Path:
    return make_workspace(
        root,
        config={"channels": {"email": email}},
        contacts=contacts(),
        rules={"notes.yaml": RULES},
        templates=TEMPLATES,
    )


def received(mailbox: Mailbox) -> dict[str, EmailMessage]:
    """Each message the server took, by the address it went to."""
    return {envelope.rcpt_tos[0]: envelope.message for envelope in mailbox.envelopes}


def messages_key(messages: dict[str, EmailMessage], to: dict[str, str]) -> str:
    return str(messages[to["email"]]["X-Outreach-Key"]).strip()


def assert_well_formed(raw: bytes, message: EmailMessage, before: datetime) -> None:
    after = datetime.now(UTC)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"\n" not in head.replace(b"\r\n", b"")  # CRLF, encoded
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    date = parsedate_to_datetime(str(message["Date"]))
    assert before.replace(microsecond=0) <= date <= after  # the real clock, not --now
    assert message["Message-ID"] and message["Message-ID"].startswith("<")
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all("MIME-Version" not in part for part in message.iter_parts())
    shown = head.decode() + "".join(f"{k}: {v}\n" for k, v in message.items())
    for secret in (RULE_ID, *NAMES):
        assert secret not in shown


def test_every_note_is_well_formed_and_names_its_recipient(tmp_path: Path, mailbox: Mailbox):
    ws = workspace(tmp_path / "ws", mailbox.settings())
    before = datetime.now(UTC)
    result = run_cli("run", "--workspace", ws, "--now", DUE)
    assert result.exit_code == 0, result.stderr
    messages = received(mailbox)
    assert len(messages) == len(NAMES)
    for envelope in mailbox.envelopes:
        assert_well_formed(envelope.content, envelope.message, before)
    for n, (_, shown) in enumerate(NAMES.values()):
        (to,) = messages[f"p{n}@client.test"]["To"].addresses
        assert (to.display_name, to.addr_spec) == (shown, f"p{n}@client.test")
    first = messages["p0@client.test"]
    html = first.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html.strip() == "<p>Kæra Þórunn,</p>\n<p>góðar kveðjur.</p>"


def test_the_test_email_of_a_gift_card_is_multipart_too(tmp_path: Path, mailbox: Mailbox):
    ws = workspace(tmp_path / "ws", mailbox.settings())
    before = datetime.now(UTC)
    result = run_cli(
        "send-test", "birthday-gift", "client-0001", "--to", "Me <me@acme.test>",
        "--workspace", ws, "--now", DUE,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (envelope,) = mailbox.envelopes
    message = envelope.message
    assert_well_formed(envelope.content, message, before)
    assert message["Subject"] == "[test] Pencil for Þórunn Sigurðardóttir"
    html = message.get_body(("html",)).get_content()
    assert "Happy birthday &amp; &lt;all&gt; the best" in html


def test_sendgrid_names_the_recipient_as_smtp_does(tmp_path: Path, mailbox: Mailbox) -> None:
    with FakeSendGrid() as server:
        email = {"provider": "sendgrid", "from": "Acme <hello@acme.test>", "host": server.url,
                 "port": None}  # fmt: skip
        ws = workspace(tmp_path / "sendgrid", email)
        result = run_cli(
            "run", "--workspace", ws, "--now", DUE, env={"SENDGRID_API_KEY": server.api_key}
        )
        assert result.exit_code == 0, result.stderr
        bodies = server.accepted
    run_cli("run", "--workspace", workspace(tmp_path / "smtp", mailbox.settings()), "--now", DUE)
    by_smtp = {to: message["To"].addresses[0] for to, message in received(mailbox).items()}
    for body in bodies:
        (to,) = body["personalizations"][0]["to"]
        n = int(to["email"][1:].partition("@")[0])
        expected = list(NAMES.values())[n][1]
        assert to.get("name", "") == expected
        assert by_smtp[to["email"]].display_name == expected
        assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
        assert body["headers"] == {"X-Outreach-Key": messages_key(received(mailbox), to)}
        assert RULE_ID not in json.dumps({k: v for k, v in body.items() if k != "custom_args"})
    assert len(bodies) == len(NAMES)


INJECTED = "=?utf-8?b?" + base64.b64encode(b"\r\nBcc: all@evil.test").decode() + "?="


def test_a_subject_that_would_decode_into_a_header_is_an_error(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    """A name in the data spelled as an encoded word would become a header of its own once
    the subject is set: that note is an `error` (told, never sent); the others go."""
    ws = workspace(tmp_path / "ws", mailbox.settings())
    hostile = {**contacts()[0], "id": "client-0099", "first_name": INJECTED, "email": "x@c.test"}
    (ws / "data" / "contacts.csv").write_text(
        (ws / "data" / "contacts.csv").read_text() + ",".join(hostile.values()) + "\n"
    )
    before = datetime.now(UTC)
    result = run_cli("run", "--workspace", ws, "--now", DUE)
    assert result.exit_code == 1 and "encoded-word" in result.stdout + result.stderr
    assert "x@c.test" not in mailbox.recipients and len(mailbox.envelopes) == len(NAMES)
    for envelope in mailbox.envelopes:
        assert_well_formed(envelope.content, envelope.message, before)
