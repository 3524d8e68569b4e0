"""A secret and every form an echo of it may take are redacted; nothing shorter than a secret
is, so ordinary words survive."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import sys
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from outreach import logs
from outreach.core.config import Config
from outreach.core.delivery import Delivery
from outreach.redaction import REDACTED, Redactor, bounded
from outreach.services.channels import redactor

KEY = "SG.k3y/with+odd=chars%"
USER, PASSWORD = "anna@acme.test", "pa55:w/rd+"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def echoes(secret: str) -> list[str]:
    encoded = base64.b64encode(secret.encode())
    return [
        secret,
        quote(secret, safe=""),
        quote(secret),  # "/" left alone
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        encoded.decode(),
        encoded.decode().rstrip("="),
        base64.urlsafe_b64encode(secret.encode()).decode(),
    ]


def test_every_form_of_a_secret_is_redacted() -> None:
    redact = Redactor.of([KEY])
    for form in echoes(KEY):
        assert redact(f"error: {form}; more") == f"error: {REDACTED}; more", form


def test_a_login_is_redacted_as_smtp_auth_plain_and_http_basic_carry_it() -> None:
    environ = {"SMTP_USER": USER, "SMTP_PASSWORD": PASSWORD}
    email = {"provider": "smtp", "from": "a@b.test", "username_env": "SMTP_USER",
             "password_env": "SMTP_PASSWORD"}  # fmt: skip
    redact = redactor(Config.model_validate({"channels": {"email": email}}), environ)
    said = (
        f"535 AUTH PLAIN {b64(f'{USER}{chr(0)}{USER}{chr(0)}{PASSWORD}')} / "
        f"{b64(f'{chr(0)}{USER}{chr(0)}{PASSWORD}')} / Basic {b64(f'{USER}:{PASSWORD}')} / "
        f"LOGIN {b64(PASSWORD)}"
    )
    shown = redact(said)
    assert PASSWORD not in shown
    for form in (f"\0{USER}\0{PASSWORD}", f"{USER}:{PASSWORD}", PASSWORD):
        assert b64(form) not in shown and b64(form).rstrip("=") not in shown
    assert shown.startswith("535 AUTH PLAIN")


def test_a_secret_cut_short_loses_its_beginning_too() -> None:
    redact = Redactor.of([KEY])
    for cut in range(len("Bearer ") + 4, len("Bearer ") + len(KEY)):
        shown = redact(bounded(f"Bearer {KEY} and more", cut) + " (check the API key)")
        assert KEY[:4] not in shown, shown
        assert shown == f"Bearer {REDACTED}… (check the API key)"


def test_short_values_and_ordinary_words_are_left_alone() -> None:
    redact = Redactor.of(["abc", "", "12345", "anna"], encoded=[""])
    text = "abc 12345 anna pw: nothing here is a secret"
    assert redact(text) == text
    assert Redactor.of([]) is not None and Redactor.of([])(text) == text


def test_a_delivery_and_json_like_values_are_redacted_throughout() -> None:
    redact = Redactor.of([KEY])
    delivery = redact.delivery(Delivery("dead", provider_id=KEY, error=f"400: {KEY}"))
    assert delivery == Delivery("dead", provider_id=REDACTED, error=f"400: {REDACTED}")
    tree = {"a": [KEY, {"b": f"x{KEY}"}], "n": 3, "none": None}
    assert redact.tree(tree) == {"a": [REDACTED, {"b": f"x{REDACTED}"}], "n": 3, "none": None}


SECRETS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=6, max_size=40
)


@given(secret=SECRETS, before=st.text(max_size=20), after=st.text(max_size=20))
def test_no_form_of_any_secret_survives(secret: str, before: str, after: str) -> None:
    assume(secret not in REDACTED)
    redact = Redactor.of([secret])
    for form in echoes(secret):
        assert form not in redact(before + form + after)


def _record(message: str, **fields: object) -> logging.LogRecord:
    try:
        raise RuntimeError(f"the provider said {KEY}")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, message, (), sys.exc_info())
    record.fields = fields
    return record


def test_log_lines_hide_the_secrets_they_were_told_of_in_message_fields_and_traceback() -> None:
    logs.hide(Redactor.of([KEY]))
    record = _record(f"failed with {quote(KEY, safe='')}", error=f"400 {b64(KEY)}", n=0)
    for line in (logs.JsonLines().format(record), logs.Lines().format(record)):
        assert all(form not in line for form in echoes(KEY)), line
        assert REDACTED in line and "RuntimeError" in line
    assert " n=0" in logs.Lines().format(record)
    assert json.loads(logs.JsonLines().format(record))["n"] == 0


ODD = 'SG.ab/cd+ef&gh<ij>kl"mn=op\\qr'  # every character an escaper touches


@pytest.mark.parametrize(
    "echo",
    [
        html.escape(ODD), html.escape(ODD).replace("&quot;", "&#34;"),
        ODD.replace("&", "&#x26;"), ODD[:9] + "\r\n " + ODD[9:],  # a header line folded
    ],
)  # fmt: skip
def test_a_secret_an_error_page_escaped_or_folded_is_redacted(echo: str) -> None:
    assert Redactor.of([ODD])(f"<p>Bearer {echo}</p>") == "<p>Bearer [redacted]</p>"
