"""The YAML loader: safe, YAML-1.2-like scalars, duplicate keys reported, every value located."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.adapters.sources.yamlfile import MAX_NODES, load_yaml_file, parse_yaml
from outreach.core.problems import Location

RULE = """\
rules:
  - id: birthday-note
    trigger:
      birthday: {lead_days: 3}
    schedule:
      at: "09:00"
"""


def test_locate_values_and_keys() -> None:
    doc = parse_yaml(RULE, "r.yaml")

    assert doc.problems == []
    assert doc.locate(("rules", 0, "id"), False) == Location("r.yaml", 2, 9)
    assert doc.locate(("rules", 0, "id"), True) == Location("r.yaml", 2, 5)
    assert doc.locate(("rules", 0, "trigger", "birthday", "lead_days"), False) == Location(
        "r.yaml", 4, 29
    )
    assert doc.locate(("rules", 0, "trigger", "birthday", "lead_days"), True) == Location(
        "r.yaml", 4, 18
    )
    assert doc.locate(("rules", 0, "schedule", "at"), False) == Location("r.yaml", 6, 11)
    assert doc.locate(("rules", 0), False) == Location("r.yaml", 2, 5)


def test_locate_missing_falls_back_to_the_nearest_enclosing_node() -> None:
    doc = parse_yaml(RULE, "r.yaml")

    assert doc.locate(("rules", 0, "action"), True) == Location("r.yaml", 2, 5)
    assert doc.locate(("rules", 0, "trigger", "birthday", "feb29"), False) == Location(
        "r.yaml", 4, 17
    )
    assert doc.locate(("nothing", "here"), False) == Location("r.yaml", 1, 1)
    assert str(doc.locate(("rules", 0, "id"), False)) == "r.yaml:2:9"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:30", "10:30"),  # YAML 1.1 reads this as 630 (sexagesimal)
        ("09:00", "09:00"),
        ("no", "no"),  # YAML 1.1: False (the Norway problem)
        ("No", "No"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("0x1F", "0x1F"),
        ("012", "012"),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("~", None),
        ("null", None),
        ('"no"', "no"),
        ("'10:30'", "10:30"),
    ],
)
def test_scalars(text: str, expected: object) -> None:
    doc = parse_yaml(f"value: {text}\n", "s.yaml")

    assert doc.problems == []
    assert doc.data == {"value": expected}
    assert type(doc.data["value"]) is type(expected)


def test_a_list_of_locales_stays_strings() -> None:
    doc = parse_yaml("locales: [is, uk, hu, et, hy, no, nb]\n", "s.yaml")
    assert doc.data == {"locales": ["is", "uk", "hu", "et", "hy", "no", "nb"]}


def test_dates_load_as_dates_or_strings_never_garbage() -> None:
    doc = parse_yaml("d: 2026-01-31\n", "s.yaml")
    assert doc.data["d"] in (dt.date(2026, 1, 31), "2026-01-31")


def test_duplicate_key_is_reported_at_the_second_one() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n", "d.yaml")

    assert doc.data == {"a": 1, "b": {"c": 2, "d": 3}}, "the first one is kept"
    (problem,) = doc.problems
    assert problem.location == Location("d.yaml", 5, 3)
    assert "duplicate key 'c'" in problem.message
    assert "line 3" in problem.message


def test_duplicate_top_level_key() -> None:
    doc = parse_yaml("rules: []\nrules: [1]\n", "d.yaml")
    (problem,) = doc.problems
    assert problem.location == Location("d.yaml", 2, 1)


def test_merge_keys_work_and_are_not_duplicates() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 1}\nitem:\n  <<: *b\n  y: 2\n", "m.yaml")
    assert doc.problems == []
    assert doc.data["item"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2),  # unclosed flow sequence; the ':' on line 2
        ("a: 1\n  b: 2\n", 2, 4),  # a mapping value where none may be
        ('a: "open\n', 2, 1),  # unterminated string: found at the end of the stream
        ("rules:\n  - id: x\n\t- id: y\n", 3, 1),  # a tab for indentation
    ],
)
def test_syntax_error_is_located(text: str, line: int, col: int) -> None:
    doc = parse_yaml(text, "bad.yaml")

    assert doc.data is None
    (problem,) = doc.problems
    assert problem.location == Location("bad.yaml", line, col)
    assert problem.message.startswith("YAML syntax")
    assert problem.is_error


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object:os.system echo hi\n",
        "!!python/object/apply:os.system [echo hi]\n",  # a tag on a sequence
        "key: !!python/object/new:dict {a: 1}\n",  # a tag on a mapping
        "key: !include secrets.yaml\n",
    ],
)
def test_unknown_and_unsafe_tags_are_refused(text: str) -> None:
    """As yaml.safe_load would: an error, never a silently untagged value."""
    doc = parse_yaml(text, "evil.yaml")
    assert doc.data is None
    (problem,) = doc.problems
    assert problem.is_error and problem.location.line == 1


def test_a_key_must_be_plain() -> None:
    doc = parse_yaml("? [a, b]\n: 1\nok: 2\n", "k.yaml")
    assert doc.data == {"ok": 2}
    (problem,) = doc.problems
    assert problem.location.line == 1


def test_empty_file_is_no_document() -> None:
    doc = parse_yaml("", "e.yaml")
    assert doc.data is None and doc.problems == []
    doc = parse_yaml("# only a comment\n", "e.yaml")
    assert doc.data is None and doc.problems == []


def test_oversize_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" + "# padding\n" * 200, encoding="utf-8")

    doc = load_yaml_file(path, "big.yaml", max_bytes=1000)

    assert doc.data is None
    (problem,) = doc.problems
    assert problem.location.path == "big.yaml"
    assert "1000" in problem.message
    assert load_yaml_file(path, "big.yaml", max_bytes=10_000).data == {"a": 1}


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    doc = load_yaml_file(tmp_path / "nope.yaml", "nope.yaml")
    assert doc.data is None and doc.problems[0].location.path == "nope.yaml"

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: Össur\n".encode("latin-1"))
    doc = load_yaml_file(latin1, "latin1.yaml")
    assert doc.data is None
    assert "UTF-8" in doc.problems[0].message


def test_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text("name: Össur hf.\nhy: Արարատ\n", encoding="utf-8")
    assert load_yaml_file(path, "u.yaml").data == {"name": "Össur hf.", "hy": "Արարատ"}


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    doc = parse_yaml(BILLION_LAUGHS, "bomb.yaml")
    elapsed = time.monotonic() - started

    assert doc.data is None
    (problem,) = doc.problems
    assert problem.is_error and problem.location.path == "bomb.yaml"
    assert elapsed < 10, "expansion is capped, not carried out"


def test_ordinary_aliases_still_work() -> None:
    doc = parse_yaml("x: &v [1, 2]\ny: *v\n", "a.yaml")
    assert doc.problems == []
    assert doc.data == {"x": [1, 2], "y": [1, 2]}


def test_large_but_honest_document_loads() -> None:
    count = 5_000
    assert count < MAX_NODES
    text = "items:\n" + "".join(f"  - {i}\n" for i in range(count))
    doc = parse_yaml(text, "big.yaml")
    assert doc.problems == []
    assert len(doc.data["items"]) == count


# --- values PyYAML cannot build: located problems, never tracebacks -------------------------

DEEP = 10_000


@pytest.mark.parametrize(
    ("text", "line", "col", "says"),
    [
        pytest.param(
            "a: 1\nb: " + "9" * 5_000 + "\n", 2, 4, "too large a number", id="5000-digit-int"
        ),
        pytest.param(
            "a: -" + "1" * 4_301 + "\n", 1, 4, "too large a number", id="4301-digit-negative"
        ),
        pytest.param(
            "a: !!int 0x" + "f" * 5_000 + "\n", 1, 4, "too large a number", id="hex-int"
        ),  # prints as 6,000 digits
        pytest.param("a: 1.0e999\n", 1, 4, "too large a number", id="huge-float"),
        pytest.param("a: -2.5e400\n", 1, 4, "too large a number", id="huge-negative-float"),
        pytest.param("rules:\n  - at: 2026-13-45\n", 2, 9, "is not a valid date", id="month-13"),
        pytest.param("a: 0000-01-01\n", 1, 4, "is not a valid date", id="year-0"),
        pytest.param(
            "a: !!timestamp 2026-01-01T25:00:00\n", 1, 4, "is not a valid date", id="hour-25"
        ),
        pytest.param("a: !!float abc\n", 1, 4, "is not a valid number", id="tagged-float"),
        pytest.param("a: !!int 12abc\n", 1, 4, "is not a valid whole number", id="tagged-int"),
        pytest.param("a: !!bool maybe\n", 1, 4, "is not a valid true or false", id="tagged-bool"),
        pytest.param(
            "? " + "9" * 5_000 + "\n: x\n", 1, 3, "too large a number", id="huge-key"
        ),  # as a key
        pytest.param(
            "a: " + "[" * 150 + "]" * 150 + "\n",
            1,
            104,
            "nested more than 100 levels deep",
            id="150-deep",
        ),
        pytest.param(
            "a: " + "[" * DEEP + "]" * DEEP + "\n", 1, None, "", id="10000-deep-flow"
        ),  # libyaml stops at 1,000
        pytest.param(
            "a:\n" + "".join(" " * i + "- \n" for i in range(DEEP)),
            None,
            None,
            "",
            id="10000-deep-block",
        ),
        pytest.param("a: " + "{b: " * DEEP + "}" * DEEP + "\n", 1, None, "", id="10000-deep-maps"),
        pytest.param(
            "x: &a " + "[" * 500 + "]" * 500 + "\ny: *a\n", 1, None, "nested", id="deep-alias"
        ),
    ],
)
def test_a_value_that_cannot_be_built_is_a_located_problem(
    text: str, line: int | None, col: int | None, says: str
) -> None:
    doc = parse_yaml(text, "v.yaml")

    assert doc.data is None, "a file with such a value is not used"
    (problem,) = doc.problems
    assert problem.is_error and problem.location.path == "v.yaml"
    assert problem.location.line is not None and problem.location.col is not None
    if line is not None:
        assert problem.location.line == line
    if col is not None:
        assert problem.location.col == col
    assert says in problem.message
    assert "set_int_max_str_digits" not in problem.message, "Python's advice is not the user's"


def test_long_but_reasonable_numbers_still_load() -> None:
    doc = parse_yaml("a: 12345678901234567890\nb: 1.5e300\nc: '" + "9" * 5_000 + "'\n", "n.yaml")
    assert doc.problems == []
    assert doc.data["a"] == 12345678901234567890
    assert doc.data["c"] == "9" * 5_000, "quoted, it is text"


@settings(max_examples=300, deadline=None)
@given(
    tag=st.sampled_from(["", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!null ", "!!str "]),
    value=st.text(alphabet="0123456789+-._:eExXoObB TZtf", min_size=1, max_size=60),
)
def test_no_tagged_scalar_raises(tag: str, value: str) -> None:
    doc = parse_yaml(f"a: {tag}'{value}'\nb: {tag}{value}\n", "h.yaml")
    assert doc.data is not None or all(p.location.line for p in doc.problems)
