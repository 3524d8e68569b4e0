"""Sandboxed rendering: blocks, layouts, locales, filters, limits and errors with lines."""

import re
from datetime import date
from decimal import Decimal

import pytest

from outreach.core.rendering import (
    RenderError,
    TemplateFile,
    Templates,
    locale_chain,
    parse_template_filename,
    tidy_text,
)


def templates(files: dict[str, str], default_locale: str = "en") -> Templates:
    built = []
    for filename, source in files.items():
        name, locale = parse_template_filename(filename)
        built.append(TemplateFile(name, locale, filename, f"templates/{filename}", source))
    return Templates(built, default_locale)


LAYOUT = (
    "{% block text %}{% block body %}{% endblock %}\n\nRegards,\n{{ owner.name }}{% endblock %}"
    "{% block html %}<div>{{ self.body()|paragraphs }}<p>{{ owner.name }}</p></div>"
    "{% endblock %}"
)
NOTE = (
    '{% extends "_layout.j2" %}{% block subject %}Hello {{ contact.first_name }}{% endblock %}'
    "{% block body %}Dear {{ contact.first_name }},\n\nSee you on {{ day|date }}.{% endblock %}"
)
VALUES = {"contact": {"first_name": "Ada"}, "owner": {"name": "Sam"}, "day": date(2026, 12, 2)}


def test_blocks_through_a_layout():
    message = templates({"_layout.j2": LAYOUT, "note.j2": NOTE}).render("note", "en", VALUES)
    assert message.subject == "Hello Ada"
    assert message.text == "Dear Ada,\n\nSee you on December 2, 2026.\n\nRegards,\nSam"
    assert (
        message.html == "<div><p>Dear Ada,</p>\n<p>See you on December 2, 2026.</p><p>Sam</p></div>"
    )
    assert message.template == "templates/note.j2"


# What matters in a date is its words in that language, not the punctuation around them:
# CLDR's layouts change between Babel releases (Armenian did in 2.19), the month names do not.
@pytest.mark.parametrize(
    ("locale", "month"),
    [
        ("is", "desember"),
        ("uk", "грудня"),
        ("hu", "december"),
        ("et", "detsember"),
        ("hy", "դեկտեմբերի"),
        ("en-GB", "December"),
    ],
)
def test_dates_are_formatted_for_the_locale(locale, month):
    source = "{% block text %}{{ day|date }}{% endblock %}"
    language = locale.split("-")[0]
    found = templates({"d.j2": source, f"d.{language}.j2": source})
    text = found.render("d", locale, VALUES).text
    assert month in text
    assert re.search(r"(?<!\d)0?2(?!\d)", text), text  # the day
    assert "2026" in text


def test_british_english_puts_the_day_first():
    found = templates({"d.j2": "{% block text %}{{ day|date }}{% endblock %}"})
    british, american = (found.render("d", tag, VALUES).text for tag in ("en-GB", "en"))
    assert british.index("2") < british.index("December")
    assert american.startswith("December")


def test_a_message_that_fell_back_to_another_language_formats_in_that_language():
    found = templates(
        {"d.j2": "{% block text %}{{ day|date }} ({{ locale }}){% endblock %}"},
        default_locale="en-GB",
    )
    message = found.render("d", "hy", VALUES)
    assert message.text == "2 December 2026 (en-gb)"
    assert message.locale == "en-gb"


def test_money_and_numbers_follow_the_locale():
    source = "{% block text %}{{ x|money('EUR') }} {{ n|number }}{% endblock %}"
    found = templates({"m.j2": source, "m.is.j2": source})
    values = {"x": Decimal("1234.5"), "n": 1234567}
    assert found.render("m", "en", values).text == "€1,234.50 1,234,567"
    assert found.render("m", "is", values).text == "1.234,50\xa0EUR 1.234.567"


def test_locale_chain():
    assert locale_chain("is-IS", "en-GB") == ["is-is", "is", "en-gb", "en", None]
    assert locale_chain(None, "hu") == ["hu", None]


def test_subject_is_one_line_so_it_cannot_inject_headers():
    found = templates(
        {
            "s.j2": "{% block subject %}Hi\r\nBcc: x@y.z {{ name }}{% endblock %}"
            "{% block text %}x{% endblock %}"
        }
    )
    assert found.render("s", "en", {"name": "A\nB"}).subject == "Hi Bcc: x@y.z A B"


def test_contact_data_is_never_compiled_as_a_template():
    found = templates({"_layout.j2": LAYOUT, "note.j2": NOTE})
    values = {**VALUES, "contact": {"first_name": "{{ 7*7 }}<b>"}}
    message = found.render("note", "en", values)
    assert message.subject == "Hello {{ 7*7 }}<b>"
    assert "49" not in message.text
    assert "{{ 7*7 }}&lt;b&gt;" in (message.html or "")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ contact.__class__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ 'x' * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set xs = 'x' * 30000 %}{% for i in xs %}{% for j in xs %}{% endfor %}{% endfor %}",
        # one C call that would take seconds and gigabytes: refused before it runs
        "{{ ('x' * 100000)|replace('x', 'x' * 20000)|length }}",
        "{{ 'ab'.replace('', 'x' * 100000) }}",
        "{{ '%01000000000d'|format(1) }}",
        "{{ '%01000000000d' % 1 }}",
        "{{ '{:01000000000}'.format(1) }}",
        "{{ 'x'|center(10 ** 9) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ 'a\\nb'|indent(100000000) }}",
        "{{ lipsum(300000) }}",
    ],
)
def test_the_sandbox_refuses_internals_and_runaway_work(source):
    found = templates(
        {
            "evil.j2": "{% block subject %}s{% endblock %}{% block text %}"
            + source
            + "{% endblock %}"
        }
    )
    with pytest.raises(RenderError) as caught:
        found.render("evil", "en", VALUES)
    assert str(caught.value).startswith("templates/evil.j2:1: ")


def test_bounded_filters_still_work_at_ordinary_sizes():
    source = (
        "{{ 'ok'|replace('o', '0') }} {{ '%05d'|format(42) }} [{{ 'x'|center(5) }}] "
        "{{ '{:>4}'.format(7) }}"
    )
    found = templates({"t.j2": "{% block text %}" + source + "{% endblock %}"})
    assert found.render("t", "en", VALUES).text == "0k 00042 [  x  ]    7"


def test_conditions_are_bounded_too():
    found = templates({})
    condition = found.compile_condition("('x' * 100000)|replace('x', 'x' * 20000)|length > 0")
    with pytest.raises(RenderError, match="longer than 256000"):
        condition.holds(VALUES)


def test_a_missing_variable_is_an_error_with_file_and_line():
    found = templates(
        {
            "t.j2": "{% block subject %}x{% endblock %}{% block text %}line one\n"
            "{{ contact.nickname }}{% endblock %}"
        }
    )
    with pytest.raises(RenderError, match=r"^templates/t\.j2:2: undefined: .*nickname"):
        found.render("t", "en", VALUES)


def test_conditions_run_in_the_sandbox():
    found = templates({})
    assert found.compile_condition("contact.first_name == 'Ada'").holds(VALUES) is True
    with pytest.raises(RenderError, match="unsafe"):
        found.compile_condition("contact.__class__").holds(VALUES)
    with pytest.raises(RenderError, match="undefined"):
        found.compile_condition("contact.missing == 1").holds(VALUES)


def test_check_reports_syntax_errors_and_unknown_layouts():
    found = templates(
        {
            "a.j2": "{% block text %}{% if %}{% endblock %}",
            "b.j2": '{% extends "nope.j2" %}',
            "c.j2": "{% extends layout %}",
        }
    )
    problems = [str(p) for p in found.check()]
    assert problems == [
        "templates/a.j2:1: template syntax: Expected an expression, got 'end of statement block'",
        "templates/b.j2:1: extends 'nope.j2', which is not in templates/",
        "templates/c.j2:1: {% extends %} needs a quoted file name",
    ]


def test_blocks_of_follows_layouts():
    found = templates({"_layout.j2": LAYOUT, "note.j2": NOTE})
    assert found.blocks_of("note.j2") == {"subject", "body", "text", "html"}


def test_tidy_text():
    assert tidy_text("\n\nA  \n\n\n\nB\n\n") == "A\n\nB"
