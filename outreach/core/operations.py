"""What an operation in a template would build, checked before it runs.

Most operations cost at most what their inputs already cost; the ones here can cost far more
from a few characters of template (`'x' * 10**9`, `9**9**9`, `'{:{}}'.format(1, 10**9)`,
`[big] * 1000 | join`) and would then run as one long C call. Each is measured against the
limits (outreach.core.limits) first and refused, with a message, when too large. Methods of
Python's own types are allowed by name only: a note needs `upper` and `split`, not `encode`
('punycode' takes quadratic time) or `to_bytes(10**9)`.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import BuiltinFunctionType
from typing import Any

from jinja2 import pass_environment, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter

from outreach.core.limits import (
    MAX_DIGITS,
    MAX_INT_BITS,
    RenderLimitExceeded,
    charge,
    check_count,
    check_deadline,
    check_number,
    check_size,
    text_size,
)

Filter = Callable[..., Any]

# Binary operators ----------------------------------------------------------------------


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "+" and _sized(left) and _sized(right):
        check_size(text_size(left) + text_size(right))
    elif operator == "*":
        _check_product(left, right)
    elif operator == "**":
        _check_power(left, right)
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _check_product(left: Any, right: Any) -> None:
    for sequence, times in ((left, right), (right, left)):
        if _sized(sequence) and isinstance(times, int):
            check_size(text_size(sequence) * times)
    if _integer(left) and _integer(right):
        _check_bits(left.bit_length() + right.bit_length())


def _check_power(base: Any, exponent: Any) -> None:
    if _integer(exponent) and exponent > 0 and _integer(base) and abs(base) > 1:
        _check_bits(base.bit_length() * exponent)
    elif _integer(exponent) and exponent.bit_length() > MAX_INT_BITS:
        raise RenderLimitExceeded(f"an exponent larger than {MAX_INT_BITS} bits")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise RenderLimitExceeded(f"the number would be larger than {MAX_INT_BITS} bits")


# Formatting ----------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+")


def format_width(spec: str) -> int:
    """The largest width or precision a format spec writes; one too long to read counts as
    too large."""
    return max((int(n) if len(n) < 8 else 10**8 for n in _NUMBER.findall(spec)), default=0)


def check_percent(pattern: str, args: Any) -> None:
    """`pattern % args`: each `%` field writes a value, at its width (`*` takes the width
    from the arguments); a mapping's values may each be written by many fields."""
    fields = pattern.count("%")
    values = list(args) if isinstance(args, tuple) else [args]
    width = format_width(pattern)
    if "*" in pattern:
        width = max([width, *(v for v in values if _integer(v))])
    check_count(width, "a format width")
    if isinstance(args, Mapping):
        written = fields * max((text_size(v) for v in args.values()), default=0)
    else:
        written = sum(text_size(v) for v in values)
    check_size(len(pattern) + written + fields * width)


class _Bounded(string.Formatter):
    """`str.format` and `format_map`: each field is checked once its spec is known, nested
    `{:{}}` widths included, and what it writes is spent as it is written."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            text_size(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_deadline()
        check_count(format_width(format_spec), "a format width")
        text_size(value)
        written = super().format_field(value, format_spec)
        charge(written)
        return written


class BoundedFormatter(_Bounded, SandboxedFormatter):
    pass


class BoundedEscapeFormatter(_Bounded, SandboxedEscapeFormatter):
    pass


# Methods of Python's own types ---------------------------------------------------------

_STR_METHODS = frozenset(
    "capitalize casefold center count endswith expandtabs find index isalnum isalpha isascii "
    "isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper "
    "join ljust lower lstrip partition removeprefix removesuffix replace rfind rindex rjust "
    "rpartition rsplit rstrip split splitlines startswith strip swapcase title upper zfill "
    "striptags unescape".split()
)
_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    range: frozenset({"count", "index"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    bytes: frozenset(),
    bytearray: frozenset(),
    complex: frozenset(),
    set: frozenset(),
    frozenset: frozenset(),
}


def checked_call_args(
    method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The arguments to call `method` with, once checked; methods of Python's own types
    must be on the list, and those that can build much are measured first."""
    owner = getattr(method, "__self__", None)
    kind = _kind(method, owner)
    if kind is None:
        return args
    name = getattr(method, "__name__", "")
    if name not in _METHODS[kind] or not isinstance(owner, kind):
        raise SecurityError(f"{kind.__name__}.{name}() is not available in templates")
    if isinstance(owner, str):
        return _checked_str_call(owner, name, args, kwargs)
    return args


def _kind(method: Any, owner: Any) -> type | None:
    """The Python type `method` belongs to, when it is one of those in _METHODS."""
    if owner is None and isinstance(method, BuiltinFunctionType):  # str.maketrans and such
        owner_name = method.__qualname__.partition(".")[0]
        return next((k for k in _METHODS if k.__name__ == owner_name), None)
    return next((k for k in _METHODS if isinstance(owner, k) or owner is k), None)


def _checked_str_call(
    text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    if name in ("center", "ljust", "rjust", "zfill") and args:
        check_count(args[0], "a width")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            check_size(len(text) + text.count("\t") * tabsize)
    elif name == "replace" and len(args) >= 2:
        check_size(replaced_size(text, str(args[0]), str(args[1]), *args[2:3]))
    elif name == "join":
        parts = list(args[0])
        charge(parts)
        check_joined(parts, text)
        return (parts, *args[1:])
    return args


def replaced_size(text: str, old: str, new: str, count: Any = None) -> int:
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def check_joined(parts: Iterable[Any], separator: str = "") -> None:
    total = 0
    for part in parts:
        total += text_size(part) + len(separator)
        check_size(total)


@pass_eval_context
def joined_text(eval_ctx: Any, parts: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`, as Jinja joins it, once its size is known."""
    check_joined(parts)
    joined: str = markup_join(parts) if eval_ctx.autoescape else str_join(parts)
    charge(joined)
    return joined


# Filters -------------------------------------------------------------------------------


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
        if spends:
            charge(result)
        return result

    return timed


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
        text_size(value)
        check_count(width, "a width")
        return center(value, width)

    return bounded


def _indent(indent: Filter) -> Filter:
    def bounded(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        check_count(width, "an indent")
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        check_size(text_size(s) + (str(s).count("\n") + 1) * pad)
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
        size, text = text_size(s), str(s)
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
        size = text_size(value)
        extra = sum(len(str(a)) for a in (*args, *kwargs.values()) if isinstance(a, str))
        check_size(3 * size + len(str(value).split()) * (extra + 64))  # each link: <a ...>
        return urlize(eval_ctx, value, *args, **kwargs)

    return bounded


def _replace(replace: Filter) -> Filter:
    @pass_eval_context
    def bounded(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        text_size(s)
        check_size(replaced_size(str(s), str(old), str(new), count))
        return replace(eval_ctx, s, old, new, count)

    return bounded


def _format(format_: Filter) -> Filter:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        text_size(value)
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
        text_size(value, indent if isinstance(indent, int) and indent > 0 else 0)
        return tojson(eval_ctx, value, indent)

    return bounded


def _pprint(pprint: Filter) -> Filter:
    def bounded(value: Any) -> Any:
        text_size(value, indent=1)
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
        _input_checked(text_size),
    ),
    "money": _input_checked(check_number),  # rendering.py's, which write a number in full
    "number": _input_checked(check_number),
}
