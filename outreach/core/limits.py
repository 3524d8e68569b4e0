"""The limits every evaluation of a user's template or `when:` expression runs under.

An evaluation runs inside `limits()`, which gives it a deadline and an allowance of memory;
the sandbox spends from them at every loop step, call, filter and sized operation. Nothing
here needs a signal or the main thread, so the limits hold in the daemon's worker threads
too. No single step can run long or allocate much either: each operation that could (a big
power, a wide format, a join of a large string many times over) is measured against these
limits before it runs, because one long C call holds the GIL and then not even SIGTERM gets
through.

The core reads no clock for planning ("now" is always passed in). The monotonic clock read
here is of another kind: it bounds how long this process spends on one evaluation, and no
decision depends on it except that an evaluation which runs out of time fails.
"""

from __future__ import annotations

import contextvars
import re
import sys
import time
from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

MAX_SECONDS = 2.0
MAX_SIZE = 256_000  # characters: one value written out, one block of output
MAX_BYTES = 32_000_000  # strings and lists one evaluation may build, all told
STEP_BYTES = 64  # what a loop step costs: it may build small values the sizes miss
MAX_INT_BITS = 65_536  # about 19,700 digits
MAX_DIGITS = 4_300  # digits of a number read from text (Python's own limit)
MAX_CALL_DEPTH = 100  # macros calling macros
MAX_LOST_SECONDS = 3 * MAX_SECONDS  # see Losses
MAX_NESTING = 50  # levels of lists in lists in a value written out

_T = TypeVar("_T")


class RenderLimitExceeded(SecurityError):
    """A template ran too long, built too much, or asked for something too large."""


class Unrepeatable(SecurityError):
    """A template would write text that differs from one run to the next."""


@dataclass
class _Evaluation:
    deadline: float
    allowance: int  # bytes it may still build
    depth: int = 0  # calls in progress


_current: contextvars.ContextVar[_Evaluation | None] = contextvars.ContextVar(
    "evaluation", default=None
)


@dataclass
class Losses:
    """Seconds spent, all told, in evaluations of one template or `when:` that a limit
    stopped in one planning pass. Past MAX_LOST_SECONDS it is not evaluated again in that pass
    (the next pass tries it afresh): one runaway template must not hold planning up for
    hours, 2 s a contact."""

    seconds: float = 0.0

    def forget(self) -> None:
        """A new planning pass: the template gets its allowance again."""
        self.seconds = 0.0

    def check(self) -> None:
        if self.seconds > MAX_LOST_SECONDS:
            raise RenderLimitExceeded(
                f"not run again: it ran into its limits for {self.seconds:.0f} s with other "
                "contacts already; fix it"
            )


@contextmanager
def limits(losses: Losses | None = None) -> Iterator[None]:
    """Bound the evaluation inside, and add to `losses` if a limit stops it. Nested (a
    template compiled while another renders), the outer evaluation's limits go on holding."""
    if _current.get() is not None:
        yield
        return
    if losses is not None:
        losses.check()
    start = time.monotonic()
    token = _current.set(_Evaluation(start + MAX_SECONDS, MAX_BYTES))
    try:
        yield
    except RenderLimitExceeded:
        if losses is not None:
            losses.seconds += time.monotonic() - start
        raise
    finally:
        _current.reset(token)


def check_deadline() -> None:
    if time.monotonic() > deadline():
        raise too_slow()


def deadline() -> float:
    """When the evaluation under way must end (monotonic clock); infinity outside one."""
    evaluation = _current.get()
    return float("inf") if evaluation is None else evaluation.deadline


def too_slow() -> RenderLimitExceeded:
    return RenderLimitExceeded(f"took longer than {MAX_SECONDS:g} s; simplify its loops")


def charge(value: Any) -> None:
    """Spend what `value` took to build from the evaluation's allowance. A list, tuple or
    dict is measured too: one that holds another many times over is large to write out,
    and to compare, hash or sort, though it took little to build."""
    evaluation = _current.get()
    if evaluation is not None and isinstance(value, _SIZED):
        _spend(evaluation, sys.getsizeof(value))
        if isinstance(value, _CONTAINERS):
            text_size(value)


_SIZED = (str, bytes, list, tuple, dict)
_CONTAINERS = (list, tuple, dict)


def measured(value: _T) -> _T:
    """A list, tuple or dict written in a template, charged like any other value built."""
    charge(value)
    return value


def _spend(evaluation: _Evaluation, size: int) -> None:
    evaluation.allowance -= size
    if evaluation.allowance < 0:
        raise RenderLimitExceeded(
            f"built more than {MAX_BYTES // 1_000_000} MB of text and lists; "
            "simplify its loops (join lists with filters rather than `+` in a loop)"
        )


def guarded(iterable: Iterable[_T]) -> Iterator[_T]:
    """What a template's `{% for %}` iterates: the items, with the limits checked at each."""
    evaluation = _current.get()
    if evaluation is None:
        yield from iterable
        return
    for item in iterable:
        if time.monotonic() > evaluation.deadline:
            raise too_slow()
        _spend(evaluation, STEP_BYTES)
        yield item


@contextmanager
def call_depth() -> Iterator[None]:
    """One level of calls deeper: a macro that calls itself without end stops here, with a
    clear message, before Python's recursion limit does it somewhere less clear."""
    evaluation = _current.get()
    if evaluation is None:
        yield
        return
    if evaluation.depth >= MAX_CALL_DEPTH:
        raise RenderLimitExceeded(
            f"calls nested more than {MAX_CALL_DEPTH} deep (a macro that calls itself?)"
        )
    evaluation.depth += 1
    try:
        yield
    finally:
        evaluation.depth -= 1


# Sizes, measured before the work is done ---------------------------------------------------


def check_size(size: int, what: str = "the result") -> None:
    if size > MAX_SIZE:
        raise RenderLimitExceeded(f"{what} would be longer than {MAX_SIZE} characters")


def check_count(count: Any, what: str) -> None:
    """A width, repeat count or the like, given by the template."""
    if isinstance(count, int) and count > MAX_SIZE:
        raise RenderLimitExceeded(f"{what} {count} is larger than {MAX_SIZE}")


def check_number(value: Any) -> None:
    """A number that may be written out in full or turned into an integer."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimitExceeded(f"a number larger than {MAX_INT_BITS} bits")
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DIGITS:
        raise RenderLimitExceeded(f"a number of more than {MAX_DIGITS} digits")


def text_size(value: Any, indent: int = 0) -> int:
    """How long `str(value)` (or its JSON, `indent` spaces a level) may be; RenderLimitExceeded
    when longer than MAX_SIZE. Lists and the like are measured, not printed: one list may hold
    a large string many times over. Each part shared is measured once, and the walk stops as
    soon as the sum is too large, so it costs no more than the limit whatever the value."""
    if isinstance(value, str):
        check_size(len(value), "written out, it")
        return len(value)
    children = _children(value)
    if children is None:
        return _leaf_size(value)
    sizes: dict[tuple[int, int], tuple[int, Any]] = {}  # (id, depth) -> size, and the object
    stack = [_Frame(value, iter(children), 0)]
    while True:
        frame = stack[-1]
        child = next(frame.children, _END)
        if child is _END:
            stack.pop()
            if not stack:
                return frame.total
            size, depth = frame.total, frame.depth
            sizes[(id(frame.value), depth if indent else 0)] = (size, frame.value)
        else:
            depth = frame.depth + 1
            known = sizes.get((id(child), depth if indent else 0))
            if known is not None:
                size = known[0]
            elif (grandchildren := _children(child)) is not None:
                if depth > MAX_NESTING:
                    raise RenderLimitExceeded(f"a value nested more than {MAX_NESTING} deep")
                stack.append(_Frame(child, iter(grandchildren), depth))
                continue
            else:
                size = _leaf_size(child)
                sizes[(id(child), depth if indent else 0)] = (size, child)
        stack[-1].total += size + indent * depth
        check_size(stack[-1].total, "written out, it")


def written_size(value: Any, indent: int = 0) -> int:
    """`text_size`, for a value about to be written out as text: one whose text would show
    where an object lies in memory (`<generator object … at 0x7f…>`) is refused, since that
    differs in every process, and a plan must come out the same each time it is made."""
    size = text_size(value, indent)
    pending, seen = [value], set()
    while pending:
        part = pending.pop()
        if isinstance(part, _PLAIN) or id(part) in seen:
            continue
        seen.add(id(part))
        children = _children(part)
        if children is not None:
            pending += children
        elif _PLACE_IN_MEMORY.search(str(part)) or _PLACE_IN_MEMORY.search(repr(part)):
            raise Unrepeatable(_unrepeatable(part))
    return size


_PLAIN = (str, int, float, Decimal, date, type(None))
_PLACE_IN_MEMORY = re.compile(r" at 0x[0-9A-Fa-f]+>")


def _unrepeatable(part: Any) -> str:
    kind = type(part).__name__
    if isinstance(part, Iterator):
        advice = "write its items with |join(', ') or |list"
    elif callable(part):
        advice = "call it: add ()"
    else:
        advice = "write one of its values instead"
    return f"writes out a {kind} as its place in memory, which changes every run; {advice}"


@dataclass
class _Frame:
    value: Any
    children: Iterator[Any]
    depth: int
    total: int = 2  # the brackets


_END = object()


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    if isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
        return list(value)
    return None


def _leaf_size(value: Any) -> int:
    """The length of one part written out, with a separator; escapes at most multiply it."""
    check_number(value)
    if isinstance(value, str):
        return len(value) + 4
    if isinstance(value, int):
        return value.bit_length() // 3 + 4  # decimal digits, rounded up
    if isinstance(value, float | bool) or value is None:
        return 32
    return len(str(value)) + 4
