"""Message templates: locale resolution, sandboxed rendering of subject/text/html blocks,
and `when:` conditions.

Templates live in `templates/NAME.j2` with locale variants `NAME.LOCALE.j2`. A template
defines blocks `subject` and `text`, optionally `html`, and may `{% extends %}` a layout.
Subject and text are rendered without escaping; html is rendered from a second compilation
of the same source with autoescape on, so client data can never inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date as date_type
from functools import lru_cache
from types import TracebackType
from typing import Any

from babel import Locale, dates, numbers
from jinja2 import Template, TemplateError, TemplateSyntaxError, nodes, pass_context
from markupsafe import Markup, escape

from outreach.core.limits import Losses, limits
from outreach.core.locales import babel_locale
from outreach.core.model import Message
from outreach.core.problems import Problem, problem
from outreach.core.sandbox import Sandbox, SourceLoader, bounded_join

BLOCKS = ("subject", "text", "html")


class RenderError(Exception):
    """A template failed for one message; `where` says file and line."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


@dataclass(frozen=True, slots=True)
class TemplateFile:
    name: str  # e.g. "birthday"
    locale: str | None  # e.g. "is-is", normalised; None for the base file
    filename: str  # e.g. "birthday.is-IS.j2", the name used by {% extends %}
    path: str  # shown in messages
    source: str


def tidy_text(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, none at the ends."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")


def normalise_locale(tag: str) -> str:
    return tag.replace("_", "-").lower()


def locale_chain(locale: str | None, default_locale: str) -> list[str | None]:
    """`is-IS` -> ['is-is', 'is', <default and its parents>, None (the base file)]."""
    chain: list[str | None] = []
    for tag in (locale, default_locale):
        if not tag:
            continue
        parts = normalise_locale(tag).split("-")
        for end in range(len(parts), 0, -1):
            candidate = "-".join(parts[:end])
            if candidate not in chain:
                chain.append(candidate)
    chain.append(None)
    return chain


def parse_template_filename(filename: str) -> tuple[str, str | None]:
    stem = filename.removesuffix(".j2")
    name, _, locale = stem.partition(".")
    return name, (normalise_locale(locale) if locale else None)


class Templates:
    """All templates of a workspace, compiled lazily, rendered in the sandbox."""

    def __init__(self, files: list[TemplateFile], default_locale: str) -> None:
        self.files = {f.filename: f for f in files}
        self.default_locale = default_locale
        self.variants: dict[str, dict[str | None, str]] = {}
        for f in files:
            self.variants.setdefault(f.name, {})[f.locale] = f.filename
        self._chains: dict[str, list[str] | None] = {}
        self._losses: dict[str, Losses] = {}  # by file
        loader = SourceLoader({f.filename: (f.source, f.path) for f in files})
        self.plain = Sandbox(loader, filters=LOCALE_FILTERS)
        self.html = Sandbox(loader, autoescape=True, filters=LOCALE_FILTERS)

    def resolve(self, name: str, locale: str | None) -> str | None:
        """The file that serves template `name` in `locale`, after fallback."""
        variants = self.variants.get(name, {})
        for candidate in locale_chain(locale, self.default_locale):
            if candidate in variants:
                return variants[candidate]
        return None

    def forget_losses(self) -> None:
        """A new planning pass: every template gets its allowance of lost time again."""
        for losses in self._losses.values():
            losses.forget()

    def render(self, name: str, locale: str, variables: Mapping[str, Any]) -> Message:
        filename = self.resolve(name, locale)
        if filename is None:
            raise RenderError(f"no template '{name}' (looked for {name}.j2 and locale variants)")
        locale = self.writing_locale(filename, locale)
        values = {**variables, "locale": locale}
        path = self.files[filename].path
        try:
            with limits(self._losses.setdefault(filename, Losses())):
                subject, text = self._blocks(self.plain, filename, ("subject", "text"), values)
                (html,) = self._blocks(self.html, filename, ("html",), values)
        except Exception as exc:  # anything a template can provoke fails this message only
            where = _where(exc, exc.__traceback__, self) or path
            raise RenderError(_failure(exc), where) from None
        return Message(
            subject=" ".join((subject or "").split()),  # one line: no header injection
            text=tidy_text(text or ""),
            html=html.strip() if html is not None else None,
            template=path,
            locale=locale,
        )

    def writing_locale(self, filename: str, wanted: str) -> str:
        """The locale a message is written in: the contact's when the file is in their
        language (keeping their region: en-GB dates), else the file's own (the base file is
        in the workspace locale), so dates and amounts match the text around them."""
        written = self.files[filename].locale or normalise_locale(self.default_locale)
        if normalise_locale(wanted).split("-")[0] == written.split("-")[0]:
            return wanted
        return written

    def _blocks(
        self, env: Sandbox, filename: str, names: tuple[str, ...], values: Mapping[str, Any]
    ) -> list[str | None]:
        template = env.get_template(filename)
        context = template.new_context(dict(values))
        chain = self._static_chain(filename)
        if chain is None:
            # Top-level code (imports, sets) must run: rendering the root also resolves
            # {% extends %}; its output is discarded, but bounded like any other.
            bounded_join(template.root_render_func(context))
        else:
            for parent in chain:  # what {% extends %} does, without rendering the layout
                for block_name, block in env.get_template(parent).blocks.items():
                    context.blocks.setdefault(block_name, []).append(block)
        return [
            bounded_join(context.blocks[name][0](context)) if context.blocks.get(name) else None
            for name in names
        ]

    def _static_chain(self, filename: str) -> list[str] | None:
        """The layouts `filename` extends, when the chain holds nothing but blocks, text and
        quoted `{% extends %}`; None when the root must be run."""
        if filename not in self._chains:
            self._chains[filename] = self._find_chain(filename)
        return self._chains[filename]

    def _find_chain(self, filename: str) -> list[str] | None:
        chain: list[str] = []
        current: str | None = filename
        while current is not None:
            if current not in self.files:
                return None  # running the root reports the missing layout
            ast = self.plain.parse(self.files[current].source)
            parent = None
            for node in ast.body:
                if isinstance(node, nodes.Extends) and isinstance(node.template, nodes.Const):
                    parent = str(node.template.value)
                elif not _inert(node):
                    return None
            if parent is not None and (parent in chain or parent == filename):
                return None
            if parent is not None:
                chain.append(parent)
            current = parent
        return chain

    def check(self) -> list[Problem]:
        """Every file compiles in both modes, and every `extends` names a known file."""
        found = []
        for f in self.files.values():
            try:
                ast = self.plain.parse(f.source, f.filename, f.path)
                self.plain.get_template(f.filename)
                self.html.get_template(f.filename)
            except TemplateSyntaxError as exc:
                exc.source = exc.source or f.source
                found.append(problem(f.path, exc.lineno, None, _message(exc)))
                continue
            for node in ast.find_all(nodes.Extends):
                parent = node.template
                if not isinstance(parent, nodes.Const):
                    found.append(
                        problem(f.path, node.lineno, None, "{% extends %} needs a quoted file name")
                    )
                elif parent.value not in self.files:
                    found.append(
                        problem(
                            f.path,
                            node.lineno,
                            None,
                            f"extends '{parent.value}', which is not in templates/",
                        )
                    )
        return found

    def blocks_of(self, filename: str) -> set[str] | None:
        """Blocks a file defines itself or through the layouts it extends; None when a file
        in the chain does not parse (`check` reports that)."""
        names: set[str] = set()
        seen: set[str] = set()
        while filename in self.files and filename not in seen:
            seen.add(filename)
            try:
                ast = self.plain.parse(self.files[filename].source)
            except TemplateSyntaxError:
                return None
            names |= {b.name for b in ast.find_all(nodes.Block)}
            parents = [n.template for n in ast.find_all(nodes.Extends)]
            if not parents or not isinstance(parents[0], nodes.Const):
                break
            filename = str(parents[0].value)
        return names

    def compile_condition(self, expression: str) -> Condition:
        """Compile a `when:` expression; TemplateSyntaxError if it does not parse."""
        return Condition(
            expression, self.plain.compile_expression(expression, undefined_to_none=False)
        )


def _inert(node: nodes.Node) -> bool:
    """A top-level node that does nothing when the root runs: a block, or plain text."""
    if isinstance(node, nodes.Block):
        return True
    return isinstance(node, nodes.Output) and all(
        isinstance(child, nodes.TemplateData) for child in node.nodes
    )


@dataclass(frozen=True)
class Condition:
    expression: str
    evaluate: Callable[..., Any]
    losses: Losses = field(default_factory=Losses, compare=False, repr=False)

    def holds(self, variables: Mapping[str, Any]) -> bool:
        """True or False; RenderError when the expression fails on these values."""
        try:
            with limits(self.losses):
                return bool(self.evaluate(**variables))
        except Exception as exc:
            raise RenderError(f"when: {_message(exc)}") from None


def _message(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        lines = (exc.source or "").splitlines()
        line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        return f"template syntax: {exc.message}{syntax_hint(exc.message or '', line)}"
    text = str(exc) or type(exc).__name__
    if "StrictUndefined" in type(exc).__name__ or type(exc).__name__ == "UndefinedError":
        return f"undefined: {text}; guard it with {{% if ... %}} or |default"
    return text


# Habits from other languages that Jinja does not share: (what the error names, what the
# line holds, what to write instead).
_HABITS = (
    (re.compile(r"got '='|chunk after expression"), re.compile(r"(?<![=!<>])=(?!=)"), "=="),
    (re.compile(r"unexpected '='"), re.compile(r"==="), "=="),
    (re.compile(r"unexpected '>'"), re.compile(r"<>"), "!="),
    (re.compile(r"unexpected char '&'"), re.compile(r"&&"), "and"),
    (re.compile(r"got '\|'|unexpected '\|'"), re.compile(r"\|\|"), "or"),
    (re.compile(r"unexpected char '!'"), re.compile(r"!(?!=)"), "not"),
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def syntax_hint(message: str, line: str) -> str:
    """'; did you mean ...?' when a syntax error comes from a habit of another language
    (`=` to compare, `&&`, `||`, `!`), else ''."""
    code = _QUOTED.sub("''", line)
    for error, habit, instead in _HABITS:
        if error.search(message) and habit.search(code):
            return f"; did you mean '{instead}'?"
    return ""


def _failure(exc: Exception) -> str:
    if isinstance(exc, TemplateError):
        return _message(exc)
    if isinstance(exc, RecursionError):
        return "templates include, import or extend each other without end"
    return f"{type(exc).__name__}: {exc}"


def _where(exc: BaseException, tb: TracebackType | None, templates: Templates) -> str | None:
    if isinstance(exc, TemplateSyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    paths = {f.path for f in templates.files.values()}
    where = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in paths:
            line = _template_line(templates, filename, tb.tb_lineno)
            where = f"{filename}:{line}" if line else filename
        tb = tb.tb_next
    return where


def _template_line(templates: Templates, path: str, python_line: int) -> int | None:
    for env in (templates.plain, templates.html):
        for f in templates.files.values():
            if f.path == path:
                template: Template = env.get_template(f.filename)
                try:
                    return template.get_corresponding_lineno(python_line)
                except (IndexError, KeyError):
                    return None
    return None


# Filters: locale-aware formatting with babel ----------------------------------------------


@lru_cache(maxsize=256)
def locale_or_english(tag: str) -> Locale:
    return babel_locale(tag) or Locale.parse("en")


def _locale_of(context: Any) -> Locale:
    return locale_or_english(str(context.get("locale") or "en"))


@pass_context
def _date(context: Any, value: Any, format: str = "long") -> str:
    tag = str(context.get("locale") or "en")
    if type(value) is date_type:  # the usual case: the same few dates in many messages
        return _format_date(value, format, tag)
    return str(dates.format_date(value, format=format, locale=locale_or_english(tag)))


@lru_cache(maxsize=8192)
def _format_date(value: date_type, format: str, tag: str) -> str:
    return str(dates.format_date(value, format=format, locale=locale_or_english(tag)))


@pass_context
def _datetime(context: Any, value: Any, format: str = "medium") -> str:
    return str(
        dates.format_datetime(
            value, format=format, tzinfo=getattr(value, "tzinfo", None), locale=_locale_of(context)
        )
    )


@pass_context
def _money(context: Any, amount: Any, currency: str = "EUR") -> str:
    return str(numbers.format_currency(amount, currency, locale=_locale_of(context)))


@pass_context
def _number(context: Any, value: Any) -> str:
    return str(numbers.format_decimal(value, locale=_locale_of(context)))


def _paragraphs(value: Any) -> Markup:
    """Plain text -> <p> per blank-line-separated paragraph, <br> per line; escaped."""
    text = str(escape(value))
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return Markup("\n".join(f"<p>{p.replace(chr(10), '<br>' + chr(10))}</p>" for p in paragraphs))


LOCALE_FILTERS: dict[str, Callable[..., Any]] = {
    "date": _date,
    "datetime": _datetime,
    "money": _money,
    "number": _number,
    "paragraphs": _paragraphs,
}
