"""Occurrence keys: one function builds them, and different actions never share one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from outreach.core.keys import occurrence_key


def test_keys_without_the_separator_read_as_always() -> None:
    assert occurrence_key("birthday-note", "c-17", "2027") == "birthday-note:c-17:2027"


def test_ids_holding_the_separator_no_longer_collide() -> None:
    # joined plainly, both were "news:c:1:story"
    assert occurrence_key("news", "c", "1:story") != occurrence_key("news", "c:1", "story")
    assert occurrence_key("news", "c", "1:story") == "news:c:1%3Astory"
    # the escape character itself is escaped: '%3A' written in an id stays apart from ':'
    assert occurrence_key("r", "a%3Ab", "x") != occurrence_key("r", "a:b", "x")


@given(st.tuples(st.text(), st.text(), st.text()), st.tuples(st.text(), st.text(), st.text()))
def test_different_parts_give_different_keys(one: tuple[str, ...], two: tuple[str, ...]) -> None:
    if one != two:
        assert occurrence_key(*one) != occurrence_key(*two)
    assert occurrence_key(*one).count(":") == 2
