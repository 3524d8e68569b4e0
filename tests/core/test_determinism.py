"""Planning is a pure function of its inputs: a template or `when:` that could come out
differently from one evaluation to the next is refused, at its line.

Two kinds: a choice left to chance (`|random`, `lipsum()`), and text that shows where an object
lies in memory (`{{ names|map('upper') }}` writes `<generator object … at 0x7f…>`, a method
written without its brackets `<built-in method upper of str object at 0x7f…>`), which differs
in every process. Since the daemon plans again every few minutes, a random `when:` eventually
lets everyone through."""

from __future__ import annotations

import pytest
from jinja2 import TemplateSyntaxError

from outreach.core.rendering import RenderError, TemplateFile, Templates

VALUES = {"contact": {"first_name": "Ada", "tags": ["vip", "fleet"]}, "n": 3}


def templates(body: str) -> Templates:
    """A template whose text block is `body`, on its line 2."""
    source = "{% block subject %}s{% endblock %}{% block text %}\n" + body + "{% endblock %}"
    return Templates([TemplateFile("t", None, "t.j2", "templates/t.j2", source)], "en")


@pytest.mark.parametrize(
    "expression",
    [
        "[true, false]|random",
        "(contact.tags|random) == 'vip'",
        "range(10)|random > 4",
        "lipsum(1)|length > 10",
    ],
)
def test_chance_in_a_condition_is_refused_where_it_is_compiled(expression: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        templates("x").compile_condition(expression)
    assert "the same" in caught.value.message  # says why: a plan must come out the same


@pytest.mark.parametrize(
    "body",
    ["{{ contact.tags|random }}", "{{ lipsum(2) }}", "{% if [1, 2]|random == 1 %}y{% endif %}"],
)
def test_chance_in_a_template_is_refused_at_its_line(body: str) -> None:
    with pytest.raises(RenderError) as caught:
        templates(body).render("t", "en", VALUES)
    assert caught.value.where == "templates/t.j2:2"
    assert "the same" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("{{ contact.tags|map('upper') }}", "generator"),
        ("{{ contact.first_name.upper }}", "builtin_function_or_method"),
        ("{{ cycler('a', 'b') }}", "Cycler"),
        ("{{ [contact.tags|reverse] }}", "generator"),
        ("{{ 'x' ~ (contact.tags|select) }}", "generator"),
        ("{{ contact.tags|map('upper')|string }}", "generator"),
        ("{{ [contact.tags|select]|join(', ') }}", "generator"),
        ("{{ '%s'|format(contact.first_name.lower) }}", "builtin_function_or_method"),
        ("{{ '{}'.format(contact.tags|reject) }}", "generator"),
        ("{{ 'x %s' % (contact.tags|unique) }}", "generator"),
    ],
)
def test_text_that_shows_a_place_in_memory_is_refused(body: str, named: str) -> None:
    with pytest.raises(RenderError) as caught:
        templates(body).render("t", "en", VALUES)
    message = str(caught.value)
    assert named in message and "every run" in message
    assert caught.value.where == "templates/t.j2:2"


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("{{ contact.tags|map('upper')|join(', ') }}", "VIP, FLEET"),
        ("{{ contact.tags|reverse|list }}", "['fleet', 'vip']"),
        ("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}", "ab"),
        ("{{ contact.first_name.upper() }}", "ADA"),
        (
            "{{ range(3) }} {{ contact }}",
            "range(0, 3) {'first_name': 'Ada', 'tags': ['vip', 'fleet']}",
        ),
        ("{{ 'at 0x1f>' }} {{ ['<a at 0x2>'] }}", "at 0x1f> ['<a at 0x2>']"),  # data, not a place
    ],
)
def test_values_written_out_are_unaffected(body: str, written: str) -> None:
    assert templates(body).render("t", "en", VALUES).text == written


def test_the_same_inputs_render_the_same_text_every_time() -> None:
    body = "{{ contact.tags|sort|join(' ') }} {{ contact|dictsort }}"
    texts = {templates(body).render("t", "en", VALUES).text for _ in range(20)}
    assert len(texts) == 1
