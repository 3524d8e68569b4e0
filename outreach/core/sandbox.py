"""The Jinja sandbox every template and `when:` condition runs in.

`ImmutableSandboxedEnvironment` blocks Python internals (`__class__`, `__mro__`, unsafe
`|attr`) and mutation; `StrictUndefined` turns a missing variable into an error instead of a
blank. On top of that, this sandbox bounds work: a render has a deadline, checked at every
call and every output chunk, and repetition (`'x' * 10**9`, `9**9**9`) is capped.
"""

from __future__ import annotations

import contextvars
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SECONDS = 2.0
MAX_OUTPUT = 256_000  # characters per block
MAX_REPEAT = 100_000  # items a `*` may produce
MAX_POWER = 1_000  # largest exponent
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("deadline", default=float("inf"))


class RenderLimitExceeded(SecurityError):
    """A template ran too long or produced too much."""


@contextmanager
def time_limit(seconds: float = MAX_SECONDS) -> Iterator[None]:
    """Bound the rendering inside: checked cooperatively at calls and output chunks, and —
    in the main thread, where signals can be had — by a timer signal that also stops a
    tight loop that makes no calls at all."""
    token = _deadline.set(time.monotonic() + seconds)
    armed = _arm_alarm(seconds + 0.25)
    try:
        yield
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _deadline.reset(token)


def _arm_alarm(seconds: float) -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    if not hasattr(signal, "setitimer") or signal.getitimer(signal.ITIMER_REAL)[0]:
        return False  # no alarms here, or someone else's is running: leave it alone
    if signal.getsignal(signal.SIGALRM) is not _on_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)  # once; it only acts inside a time limit
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return True


def _on_alarm(signum: int, frame: Any) -> None:
    if time.monotonic() < _deadline.get():
        return  # a late signal from a limit already lifted
    raise RenderLimitExceeded(f"rendering took longer than {MAX_SECONDS:g} s; simplify loops")


def check_deadline() -> None:
    if time.monotonic() > _deadline.get():
        raise RenderLimitExceeded(f"rendering took longer than {MAX_SECONDS:g} s; simplify loops")


def bounded_join(chunks: Iterator[str]) -> str:
    """Join a block's output, stopping it when it grows too large or too slow. The error is
    thrown into the template's own generator, so its traceback names the template line."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            _stop(chunks, RenderLimitExceeded(f"output longer than {MAX_OUTPUT} characters"))
        if time.monotonic() > _deadline.get():
            _stop(chunks, RenderLimitExceeded(f"rendering took longer than {MAX_SECONDS:g} s"))
        parts.append(chunk)
    return "".join(parts)


def _stop(chunks: Iterator[str], error: RenderLimitExceeded) -> None:
    throw = getattr(chunks, "throw", None)
    if throw is not None:
        throw(error)  # raises it from the template's frame
    raise error


class SourceLoader(BaseLoader):
    """Templates from memory: name -> (source, path shown in errors)."""

    def __init__(self, sources: dict[str, tuple[str, str]]) -> None:
        self.sources = sources

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        source, path = self.sources[template]
        return source, path, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, loader: BaseLoader | None = None, autoescape: bool = False) -> None:
        super().__init__(
            loader=loader,
            autoescape=autoescape,
            undefined=StrictUndefined,
            auto_reload=False,
        )
        self.globals.pop("lipsum", None)  # generates text without bound; no use in a note
        for name, bounded in _BOUNDED_FILTERS.items():
            self.filters[name] = bounded(self.filters[name])

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        _check_string_method(__obj, args)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise SecurityError(f"exponent {right} is larger than {MAX_POWER}")
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        if operator == "%" and isinstance(left, str):
            _check_widths(left)
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence: Any, times: Any) -> None:
    sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if sized and len(sequence) * times > MAX_REPEAT:
        raise SecurityError(f"repetition would make {len(sequence) * times} items")


# Work that is one call to C but can take seconds and gigabytes: each is checked before it
# runs, against what it would produce.
_HUGE_WIDTH = re.compile(r"\d{6,}")  # a field width or precision of a million or more


def _check_widths(pattern: str) -> None:
    if _HUGE_WIDTH.search(pattern):
        raise SecurityError("a format width of a million or more characters")


def _check_size(size: int) -> None:
    if size > MAX_OUTPUT:
        raise RenderLimitExceeded(f"output longer than {MAX_OUTPUT} characters")


def _replaced_size(text: str, old: str, new: str, count: int | None = None) -> int:
    hits = len(text) + 1 if not old else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _check_string_method(method: Any, args: tuple[Any, ...]) -> None:
    method = getattr(method, "__wrapped__", method)  # the sandbox wraps str.format
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _check_size(args[0])
    elif name == "expandtabs" and args and isinstance(args[0], int):
        _check_size(owner.count("\t") * args[0])
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        _check_size(_replaced_size(owner, args[0], str(args[1]), *args[2:3]))
    elif name in ("format", "format_map"):
        _check_widths(owner)


def _bounded_replace(replace: Callable[..., Any]) -> Callable[..., Any]:
    @pass_eval_context
    def bounded(ctx: Any, text: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_size(_replaced_size(str(text), str(old), str(new), count))
        return replace(ctx, text, old, new, count)

    return bounded


def _bounded_width(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(filter_: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
            if isinstance(width, int):
                lines = str(value).count("\n") + 1
                _check_size(len(str(value)) + width * (lines if name == "indent" else 1))
            return filter_(value, width, *args, **kwargs)

        return bounded

    return wrap


def _bounded_format(format_: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_widths(str(value))
        return format_(value, *args, **kwargs)

    return bounded


_BOUNDED_FILTERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "replace": _bounded_replace,
    "center": _bounded_width("center"),
    "indent": _bounded_width("indent"),
    "format": _bounded_format,
}
