"""What an operation in a template would build, checked before it runs.

Most operations cost at most what their inputs already cost; the ones here can cost far more
from a few characters of template (`'x' * 10**9`, `9**9**9`, `'{:{}}'.format(1, 10**9)`,
`[big] * 1000 | join`) and would then run as one long C call. Each is measured against the
limits (outreach.core.limits) first and refused, with a message, when too large. Methods of
Python's own types are allowed by name only: a note needs `upper` and `split`, not `encode`
('punycode' takes quadratic time) or `to_bytes(10**9)`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from types import BuiltinFunctionType
from typing import Any

from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter

from outreach.core.limits import (
    MAX_INT_BITS,
    RenderLimitExceeded,
    charge,
    check_count,
    check_deadline,
    check_size,
    text_size,
    written_size,
)

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
    from the arguments, a negative one padding on the right as wide); a mapping's values may
    each be written by many fields."""
    fields = pattern.count("%")
    values = list(args) if isinstance(args, tuple) else [args]
    width = format_width(pattern)
    if "*" in pattern:
        width = max([width, *(abs(v) for v in values if _integer(v))])
    check_count(width, "a format width")
    if isinstance(args, Mapping):
        written = fields * max((written_size(v) for v in args.values()), default=0)
    else:
        written = sum(written_size(v) for v in values)
    check_size(len(pattern) + written + fields * width)


class _Bounded(string.Formatter):
    """`str.format` and `format_map`: each field is checked once its spec is known, nested
    `{:{}}` widths included, and what it writes is spent as it is written."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            written_size(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_deadline()
        check_count(format_width(format_spec), "a format width")
        written_size(value)
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
        total += written_size(part) + len(separator)
        check_size(total)


@pass_eval_context
def joined_text(eval_ctx: Any, parts: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`, as Jinja joins it, once its size is known."""
    check_joined(parts)
    joined: str = markup_join(parts) if eval_ctx.autoescape else str_join(parts)
    charge(joined)
    return joined
