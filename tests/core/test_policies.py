"""Send-time holds and suppression: opt-outs read again at send time, however the address
is spelled; a withheld or missing contact waits until its window closes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from outreach.core.addresses import deliverable, suppression_key
from outreach.core.policies import hold_at_send_time, suppression

from .factory import dataset, person

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


def hold(data, contact_id="c-1", to="ann@example.test", deadline=NOW + timedelta(hours=1)):
    return hold_at_send_time(contact_id, "email", to, deadline, NOW, data, None, "UTC")


@pytest.mark.parametrize(
    "listed",
    [
        "ann@example.test",
        "ANN@Example.Test",
        "ann+promo@example.test",
        "ann@example.test.",
        "ann@example.test(home)",
        "Ann Lee <ann@example.test>",
        " ann@EXAMPLE.test ",
        "ａｎｎ@example.test",  # fullwidth letters: the same mailbox once normalised
        "@example.test",  # everyone at the domain
        "@EXAMPLE.test.",
    ],
)
def test_any_spelling_on_the_suppression_list_cancels_at_send_time(listed: str) -> None:
    data = dataset(person("c-1", email="ann@example.test"), suppressed_emails=[listed])
    found = hold(data)
    assert found is not None and found.status == "cancelled"
    assert "suppression list" in found.reason


def test_the_recorded_recipient_is_checked_too() -> None:
    data = dataset(person("c-1", email="new@example.test"), suppressed_emails=["Old@example.test"])
    found = hold(data, to="old+x@example.test")
    assert found is not None and found.status == "cancelled"


def test_an_address_that_opted_out_under_another_contact_cancels() -> None:
    data = dataset(
        person("c-1", email="ann@example.test"),
        opted_out_addresses={suppression_key("ANN@example.test"): "opted out, contacts.csv line 9"},
    )
    found = hold(data)
    assert found is not None and found.status == "cancelled" and "line 9" in found.reason


def test_a_withheld_contact_waits_then_is_late() -> None:
    withheld = replace(person("c-1", email="ann@example.test"), withheld="withheld: id twice")
    data = dataset(withheld)
    waiting = hold(data)
    assert waiting is not None and waiting.status is None and "id twice" in waiting.reason
    late = hold(data, deadline=NOW - timedelta(minutes=1))
    assert late is not None and late.status == "late"


def test_a_missing_contact_waits_then_is_late() -> None:
    data = dataset(person("c-2"))
    assert hold(data).status is None
    assert hold(data, deadline=NOW - timedelta(minutes=1)).status == "late"


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.test(x)",
        "ann@example.test.",
        "Ann <ann@example.test>",
        '"ann"@example.test',
        "ann..lee@example.test",
        ".ann@example.test",
        "ann@-example.test",
        "ann@example",
        "ann@[127.0.0.1]",
        "ann@@example.test",
        "ann@exa mple.test",
        "jörg@example.test",  # few mail servers take a local part outside ASCII
        "ann\n@example.test",
        "ann@example.test\r\nBcc: x@y.test",
        "",
        "@example.test",
        "a" * 65 + "@example.test",
    ],
)
def test_only_plain_addresses_are_deliverable(address: str) -> None:
    with pytest.raises(ValueError):
        deliverable(address)


@pytest.mark.parametrize(
    ("address", "written_to"),
    [
        ("ann@example.test", "ann@example.test"),
        ("o'brien+tag@Sub.Example.co.uk", "o'brien+tag@sub.example.co.uk"),
        ("jon@dæmi.is", "jon@xn--dmi-yla.is"),  # the domain as DNS knows it
        ("a@xn--dmi-yla.is", "a@xn--dmi-yla.is"),
    ],
)
def test_plain_addresses_are_deliverable(address: str, written_to: str) -> None:
    assert deliverable(address) == written_to


def test_an_unusable_email_cell_still_meets_the_suppression_list() -> None:
    """Gifts and tasks go to a contact whose email cell cannot be used for email: the
    mailbox the cell names is still checked (`ann@example.test(home)` is Ann)."""
    contact = replace(person("c-1", email=None), fields={"email": "ann@example.test(home)"})
    data = dataset(contact, suppressed_emails=["ann@example.test"])
    found = hold_at_send_time("c-1", "gift", None, None, NOW, data, None, "UTC")
    assert found is not None and found.status == "cancelled"
    assert suppression(contact, data)
