"""Text printed to a terminal shows control characters as escapes and is never rich markup."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from outreach import logs
from outreach.terminal import cell, visible, visible_json

HOSTILE = "[/x] [bold]\x1b[2J\x1b]0;owned\x07\r\x9b31m\u202egnp.exe\u2066\x00\x7f\u2028"
RAW = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\u2066", "\x00", "\x7f", "\u2028"]


def test_control_characters_become_escapes_and_the_rest_stays() -> None:
    shown = visible(HOSTILE + "\nnext\tcol Ünïcødé עברית\u200f")
    assert not any(raw in shown for raw in RAW)
    assert "\\x1b[2J" in shown and "\\u202e" in shown and "\\x9b" in shown
    assert "\\nnext\tcol Ünïcødé עברית\u200f" in shown  # tab and a right-to-left mark stay
    assert visible("a\nb", lines=True) == "a\nb"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = visible(text)
    assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert json.loads(visible_json(json.dumps(text, ensure_ascii=False))) == text


def test_a_cell_is_printed_as_written_never_as_markup() -> None:
    out = io.StringIO()
    table = Table()
    table.add_column("name")
    table.add_row(cell(HOSTILE))
    Console(file=out, width=200).print(table)
    assert "[/x] [bold]" in out.getvalue()
    assert not any(raw in out.getvalue() for raw in RAW)


@pytest.mark.parametrize("formatter", [logs.Lines(), logs.JsonLines()])
def test_a_log_line_is_one_line_without_control_characters(formatter: logging.Formatter) -> None:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "bad %s", (HOSTILE,), None)
    record.fields = {"contact": "c-1\nFAKE 2026-01-01 ERROR forged"}
    line = formatter.format(record)
    assert "\n" not in line and not any(raw in line for raw in RAW)
