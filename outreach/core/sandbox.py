"""The Jinja sandbox every template and `when:` condition runs in.

`ImmutableSandboxedEnvironment` blocks Python internals (`__class__`, `__mro__`, unsafe
`|attr`) and mutation; `StrictUndefined` turns a missing variable into an error instead of a
blank. On top of that, this sandbox bounds work in whatever thread it runs: every loop step,
call, filter and operator checks the evaluation's deadline and spends from its allowance
(outreach.core.limits), and what could build much in one step is measured before it runs
(outreach.core.operations). A source nested deeper than Jinja's parser or Python's compiler
can take is a syntax error at its line, before either tries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from functools import update_wrapper
from typing import Any, cast

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from outreach.core.bounded_filters import bounded_filter, bounded_test
from outreach.core.limits import (
    MAX_DIGITS,
    MAX_SIZE,
    RenderLimitExceeded,
    call_depth,
    charge,
    check_deadline,
    deadline,
    limits,
    too_slow,
    written_size,
)
from outreach.core.operations import (
    BoundedEscapeFormatter,
    BoundedFormatter,
    check_binop,
    checked_call_args,
)

MAX_BRACKETS = 20  # ( [ { inside each other: Jinja's parser recurses ~14 frames for each
MAX_DEPTH = 50  # levels of the parsed template: its compiler recurses for each
MAX_STATEMENTS = 16  # {% for %}, {% if %}... inside each other; Python allows 20 loops


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
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(
        self,
        loader: BaseLoader | None = None,
        autoescape: bool = False,
        filters: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(
            loader=loader,
            autoescape=autoescape,
            undefined=StrictUndefined,
            auto_reload=False,
            finalize=_written,
        )
        for name in BY_CHANCE:
            self.globals.pop(name, None)
            self.filters.pop(name, None)
        self.filters.update(filters or {})
        self.filters = {name: bounded_filter(name, f) for name, f in self.filters.items()}
        tests = cast(dict[str, Callable[..., Any]], self.tests)  # typed `function` by Jinja
        self.tests = {name: bounded_test(test) for name, test in tests.items()}

    @staticmethod
    def concat(chunks: Any) -> str:
        """How compiled templates join the body of a macro, `{% set %}` or `{% filter %}`."""
        return bounded_join(chunks)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        args = checked_call_args(__obj, args, kwargs)
        with call_depth():
            result = super().call(__context, __obj, *args, **kwargs)
        charge(result)
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        charge(result)
        return result

    def getitem(self, obj: Any, argument: Any) -> Any:
        item = super().getitem(obj, argument)
        if isinstance(argument, slice):
            charge(item)  # a copy
        return item

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map` through the bounded formatters."""
        if super().wrap_str_format(value) is None:
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"
        formatter = (
            BoundedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else BoundedFormatter(self)
        )

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one mapping")
                return str(type(text)(formatter.vformat(text, (), args[0])))
            return str(type(text)(formatter.vformat(text, args, kwargs)))

        return update_wrapper(bounded, value)

    # Compiling: sources nested too deeply are refused; loops and `~` are bounded.

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        _check_tokens(self, source, name, filename)
        parser = Parser(self, source, name, filename)
        try:
            tree = parser.parse()
        except RecursionError:
            line = parser.stream.current.lineno
            raise TemplateSyntaxError(_TOO_DEEP, line, name, filename) from None
        # A chain (`1+1+…+1`, `a.b.c…`) parses in a loop but nests as deep as it is long:
        # refused here, before anything walks the tree by recursion.
        _check_depth(tree, name, filename)
        return tree

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> Any:
        _check_tokens(self, source, None, None, state="variable")
        try:
            return super().compile_expression(source, undefined_to_none)
        except RecursionError:
            raise TemplateSyntaxError(_TOO_DEEP, 1) from None

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        _check_depth(source, name, filename)
        _refuse_chance(source, name, filename)
        with limits():  # constant expressions are folded while compiling, filters included
            _Bounding(self).visit(source)
            return super()._generate(source, name, filename, defer_init)


_TOO_DEEP = "nested too deeply; simplify it"

# What would make a plan come out differently each time it is made, from the same inputs.
BY_CHANCE = ("random", "lipsum")


def _refuse_chance(tree: nodes.Template, name: str | None, filename: str | None) -> None:
    """The daemon plans again every few minutes: a `when:` left to chance would sooner or
    later let everyone through, and a note would change between preview and send."""
    for node in tree.find_all((nodes.Filter, nodes.Name)):
        used = getattr(node, "name", None)
        if used in BY_CHANCE and getattr(node, "ctx", "load") == "load":
            message = (
                f"'{used}' is not available: a plan must come out the same every time it is "
                "made from the same data; choose by the data instead (e.g. contact.id)"
            )
            raise TemplateSyntaxError(message, node.lineno, name, filename)


def _check_tokens(
    env: Sandbox, source: str, name: str | None, filename: str | None, state: str | None = None
) -> None:
    """Brackets nested too deeply and numbers too long to read, found before parsing."""
    depth = 0
    for line, token, value in env.lexer.tokeniter(source, name, filename, state):
        if token == "operator" and value in ("(", "[", "{"):
            depth += 1
            if depth > MAX_BRACKETS:
                message = f"brackets nested more than {MAX_BRACKETS} deep; simplify it"
                raise TemplateSyntaxError(message, line, name, filename)
        elif token == "operator" and value in (")", "]", "}"):
            depth -= 1
        elif token == "integer" and len(value) > MAX_DIGITS:
            message = f"a number of more than {MAX_DIGITS} digits"
            raise TemplateSyntaxError(message, line, name, filename)


def _check_depth(tree: nodes.Template, name: str | None, filename: str | None) -> None:
    pending: list[tuple[nodes.Node, int, int, int]] = [(tree, 0, 0, 1)]
    while pending:
        node, depth, statements, line = pending.pop()
        line = node.lineno or line  # a Scope, for one, has none of its own
        if depth > MAX_DEPTH:
            message = f"expressions nested more than {MAX_DEPTH} deep; simplify it"
            raise TemplateSyntaxError(message, line, name, filename)
        if "body" in node.fields and not isinstance(node, nodes.Scope):
            statements += 1
            if statements > MAX_STATEMENTS:
                message = (
                    f"statements nested more than {MAX_STATEMENTS} deep; "
                    "move the inner part into a macro"
                )
                raise TemplateSyntaxError(message, line, name, filename)
        pending.extend((child, depth + 1, statements, line) for child in node.iter_child_nodes())


class _Bounding(NodeTransformer):
    """Every `{% for %}` iterates through `guarded` (the limits, checked at each step),
    every `a ~ b` joins through `joined_text` (its size, checked before joining), and every
    list, tuple or dict written with values in it is `measured`."""

    def __init__(self, environment: Sandbox) -> None:
        self.environment = environment

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._literal(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return self._literal(node) if node.ctx == "load" else node

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._literal(node)

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        try:
            node.as_const(nodes.EvalContext(self.environment))
        except nodes.Impossible:
            return self._call("outreach.core.limits.measured", node)
        return node  # constant: no larger than its source

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("outreach.core.limits.guarded", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return self._call("outreach.core.operations.joined_text", parts)

    def _call(self, function: str, argument: Any) -> nodes.Call:
        call = nodes.Call(nodes.ImportedName(function), [argument], [], None, None)
        call.set_lineno(argument.lineno)
        call.set_environment(self.environment)
        return call


def _written(value: Any) -> Any:
    """What `{{ value }}` writes: measured before str() writes a list out in full."""
    if not isinstance(value, str):
        written_size(value)
    return value


def bounded_join(chunks: Iterator[str] | list[str]) -> str:
    """Join a block's output, stopping it when it grows too large or too slow. The error is
    thrown into the template's own generator, so its traceback names the template line."""
    parts, size, ends = [], 0, deadline()
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_SIZE:
            _stop(chunks, RenderLimitExceeded(f"the output is longer than {MAX_SIZE} characters"))
        if time.monotonic() > ends:
            _stop(chunks, too_slow())
        parts.append(chunk)
    joined = "".join(parts)
    charge(joined)
    return joined


def _stop(chunks: Iterator[str] | list[str], error: RenderLimitExceeded) -> None:
    throw = getattr(chunks, "throw", None)
    if throw is not None:
        throw(error)  # raises it from the template's frame
    raise error
