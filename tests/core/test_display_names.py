"""The name beside an address, decided in one place for every channel."""

from __future__ import annotations

import pytest

from outreach.core.addresses import display_name
from outreach.core.keys import opaque_id


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Þórunn Sigurðardóttir", "Þórunn Sigurðardóttir"),
        ("Олена Коваленко", "Олена Коваленко"),
        ("Արամ Պետրոսյան", "Արամ Պետրոսյան"),
        ("Lovelace, Ada", "Lovelace, Ada"),  # a comma is quoted by the channel, not lost
        ("  Ada \t Lovelace ", "Ada Lovelace"),
        ('Dwayne "The Rock" Johnson', "Dwayne The Rock Johnson"),
        ("Ada <Lovelace>", "Ada Lovelace"),
        ("Jo\u00adn\u200b", "Jon"),  # invisible characters
        ("Eva\u202egnirts", "Evagnirts"),  # a bidi override would reorder what is read
        ("Ada\r\nBcc: all@evil.test", ""),  # poses as a mailbox: the bare address
        ('Eve" <boss@acme.test>, "Mallory', ""),
        ("boss@acme.test", ""),
        ("=?utf-8?b?Ym9zc0BhY21lLnRlc3Q=?=", ""),  # an encoded word, read as boss@acme.test
        ("\x00\x07", ""),
        ("x" * 201, ""),
        ("", ""),
    ],
)
def test_a_display_name_is_one_safe_line_or_nothing(written: str, shown: str) -> None:
    assert display_name(written) == shown


def test_an_opaque_id_is_stable_and_says_nothing_of_the_key() -> None:
    key = "feedback-detractor:c-2:2026"
    assert opaque_id(key) == opaque_id(key) != opaque_id("feedback-detractor:c-3:2026")
    assert "feedback" not in opaque_id(key) and "c-2" not in opaque_id(key)
