"""Jinja's filters and tests, with the limits.

Every filter and test checks the deadline, and what a filter returns is charged to the
evaluation's allowance (outreach.core.limits). Those that can build far more than they are
given (`center(10**9)`, `batch(10**9, 0)`, `join` of one big string many times over,
`wordwrap` of a long word at width 1) are measured before they run; those that write their
input out whole (`string`, `upper`, `tojson`...) measure it first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from jinja2 import pass_environment, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter

from outreach.core.limits import (
    MAX_DIGITS,
    RenderLimitExceeded,
    charge,
    check_count,
    check_deadline,
    check_number,
    check_size,
    written_size,
)
from outreach.core.operations import check_joined, check_percent, replaced_size

Filter = Callable[..., Any]


def bounded_filter(name: str, filter_: Filter) -> Filter:
    """`filter_` with the limits: its own checks where it can build much, its input written
    out within bounds where it writes it out, and always the deadline and the allowance."""
    checked = _FILTER_CHECKS.get(name)
    return _timed(checked(filter_) if checked else filter_, spends=True)


def bounded_test(test: Filter) -> Filter:
    return _timed(test, spends=False)


def _timed(function: Filter, spends: bool) -> Filter:
    @functools.wraps(function)  # keeps the pass_context / pass_eval_context mark
    def timed(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        result = function(*args, **kwargs)
        if isinstance(result, Iterator):  # `unique`, `map`, `batch`...: work done lazily
            return _paced(result)
        if spends:
            charge(result)
        return result

    return timed


def _paced(items: Iterator[Any]) -> Iterator[Any]:
    """A filter's lazy result, checking the deadline at each item it makes: one item can be
    slow to make (`unique` over values that all hash alike), and there may be 100,000."""
    for item in items:
        check_deadline()
        yield item


def _input_checked(check: Callable[[Any], object]) -> Callable[[Filter], Filter]:
    """Filters that write their input out whole: `check` it first."""

    def wrap(filter_: Filter) -> Filter:
        first = 1 if getattr(filter_, "jinja_pass_arg", None) is not None else 0

        @functools.wraps(filter_)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            if len(args) > first:
                check(args[first])
            return filter_(*args, **kwargs)

        return bounded

    return wrap


def _center(center: Filter) -> Filter:
    def bounded(value: Any, width: Any = 80) -> Any:
        written_size(value)
        check_count(width, "a width")
        return center(value, width)

    return bounded


def _indent(indent: Filter) -> Filter:
    def bounded(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        check_count(width, "an indent")
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        check_size(written_size(s) + (str(s).count("\n") + 1) * pad)
        return indent(s, width, first, blank)

    return bounded


# textwrap cuts a long word one line at a time, copying the rest each time: quadratic.
_MAX_WRAP_WORK = 10**10


def _wordwrap(wordwrap: Filter) -> Filter:
    @pass_environment
    def bounded(
        environment: Any,
        s: Any,
        width: Any = 79,
        break_long_words: bool = True,
        wrapstring: Any = None,
        break_on_hyphens: bool = True,
    ) -> Any:
        size, text = written_size(s), str(s)
        if isinstance(width, int) and width > 0:
            lines = 2 * size // width + text.count("\n") + 1
            separator = environment.newline_sequence if wrapstring is None else wrapstring
            check_size(size + lines * len(str(separator)))
            longest = max(map(len, text.split()), default=0)
            if break_long_words and longest * longest // width > _MAX_WRAP_WORK:
                raise RenderLimitExceeded(f"wrapping a {longest}-character word at {width}")
        return wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    return bounded


def _urlize(urlize: Filter) -> Filter:
    @pass_eval_context
    def bounded(eval_ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        size = written_size(value)
        extra = sum(len(str(a)) for a in (*args, *kwargs.values()) if isinstance(a, str))
        check_size(3 * size + len(str(value).split()) * (extra + 64))  # each link: <a ...>
        return urlize(eval_ctx, value, *args, **kwargs)

    return bounded


def _replace(replace: Filter) -> Filter:
    @pass_eval_context
    def bounded(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        written_size(s)
        check_size(replaced_size(str(s), str(old), str(new), count))
        return replace(eval_ctx, s, old, new, count)

    return bounded


def _format(format_: Filter) -> Filter:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        written_size(value)
        check_percent(str(value), kwargs or args)
        return format_(value, *args, **kwargs)

    return bounded


def _join(join: Filter) -> Filter:
    @pass_eval_context
    def bounded(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        parts = list(value)
        if attribute is not None:
            parts = list(map(make_attrgetter(eval_ctx.environment, attribute), parts))
        charge(parts)
        check_joined(parts, str(d))
        return join(eval_ctx, parts, d)

    return bounded


def _tojson(tojson: Filter) -> Filter:
    @pass_eval_context
    def bounded(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
        check_count(indent, "an indent")
        written_size(value, indent if isinstance(indent, int) and indent > 0 else 0)
        return tojson(eval_ctx, value, indent)

    return bounded


def _pprint(pprint: Filter) -> Filter:
    def bounded(value: Any) -> Any:
        written_size(value, indent=1)
        return pprint(value)

    return bounded


def _batch(batch: Filter) -> Filter:
    def bounded(value: Any, linecount: Any, fill_with: Any = None) -> Any:
        check_count(linecount, "a batch size")  # fills the last batch up to it
        return batch(value, linecount, fill_with)

    return bounded


def _slice(slice_: Filter) -> Filter:
    @pass_eval_context  # as Jinja's own, which has an async variant
    def bounded(eval_ctx: Any, value: Any, slices: Any, fill_with: Any = None) -> Any:
        check_count(slices, "a number of slices")  # makes that many lists
        return slice_(eval_ctx, value, slices, fill_with)

    return bounded


def _sum(sum_: Filter) -> Filter:
    @pass_environment
    def bounded(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, int | float | Decimal):
            raise SecurityError("sum adds numbers; join lists with a loop or |join")
        return sum_(environment, iterable, attribute, start)

    return bounded


def _int(int_: Filter) -> Filter:
    def bounded(value: Any, default: Any = 0, base: Any = 10) -> Any:
        if isinstance(value, str) and len(value) > MAX_DIGITS:
            raise RenderLimitExceeded(f"a number of more than {MAX_DIGITS} digits")
        check_number(value)
        return int_(value, default, base)

    return bounded


_FILTER_CHECKS: dict[str, Callable[[Filter], Filter]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "urlize": _urlize,
    "replace": _replace,
    "format": _format,
    "join": _join,
    "tojson": _tojson,
    "pprint": _pprint,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    "int": _int,
    # what str() of a list holding one big string a thousand times writes is big too
    **dict.fromkeys(
        "capitalize e escape forceescape lower safe string striptags title trim truncate "
        "upper urlencode wordcount xmlattr paragraphs".split(),
        _input_checked(written_size),
    ),
    "money": _input_checked(check_number),  # rendering.py's, which write a number in full
    "number": _input_checked(check_number),
}
