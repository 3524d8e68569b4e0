"""Turn pydantic validation errors into problems that point into the user's YAML."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from outreach.core.problems import Location, Problem
from outreach.core.rules import ACTION_KINDS, TRIGGER_KINDS
from outreach.core.schema_types import SECRET_IN_FILE

Loc = tuple[str | int, ...]
Locate = Callable[[Loc, bool], Location]
_KINDS = {"trigger": TRIGGER_KINDS, "action": ACTION_KINDS}


def validation_problems(
    error: ValidationError, locate: Locate, model: type[BaseModel], prefix: Loc = ()
) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = prefix + _without_union_tags(tuple(item["loc"]))
        message, at_key, loc = _explain(item, loc, model)
        problems.append(Problem(locate(loc, at_key), message))
    return problems


def _without_union_tags(loc: Loc) -> Loc:
    # pydantic repeats a discriminated union's tag: ('trigger', 'birthday', 'birthday', ...)
    # and a union chosen by a function puts its tag in: ('data', 'contacts', '<sql>', ...).
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue
        if i >= 2 and out[-2:-1] and out[-2] in _KINDS and out[-1] == part:
            continue
        out.append(part)
    return tuple(out)


def _explain(item: Any, loc: Loc, model: type[BaseModel]) -> tuple[str, bool, Loc]:
    kind, where = item["type"], _dotted(loc)
    if kind == "unknown_kind":
        message, at_key, loc = _unknown_kind(item, loc)
        return f"{where}: {message}", at_key, loc
    if kind == "union_tag_invalid":  # e.g. `provider: smpt`
        field, tag = item["ctx"]["discriminator"].strip("'"), str(item["ctx"]["tag"])
        known = [t.strip().strip("'") for t in item["ctx"]["expected_tags"].split(",")]
        return f"{where}: unknown {field} '{tag}'{_suggest(tag, known)}", False, loc
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        return f"{where}: unknown key '{loc[-1]}'{_suggest(str(loc[-1]), known)}", True, loc
    if kind == "missing":
        return f"{where}: required, but missing", True, loc
    message = item["msg"].removeprefix("Value error, ")
    shown = item.get("input")
    if (
        isinstance(shown, str | int | float)
        and repr(shown) not in message
        and kind
        not in (
            "model_type",
            "dict_type",
            SECRET_IN_FILE,  # a password written in outreach.yaml is not repeated
        )
    ):
        message += f" (got {_short(repr(shown))})"
    return f"{where}: {message}", False, loc


def _short(text: str, limit: int = 80) -> str:
    """A value quoted in a message, cut short: a problem is one line, not the whole value."""
    return (
        text
        if len(text) <= limit
        else f"{text[: limit - 20]}…{text[-10:]} ({len(text)} characters)"
    )


def _unknown_kind(item: Any, loc: Loc) -> tuple[str, bool, Loc]:
    what, known = item["ctx"]["what"], item["ctx"]["known"]
    value = item.get("input")
    if isinstance(value, dict) and len(value) == 1:
        name = str(next(iter(value)))
        hint = _suggest(name, known.split(", "))
        message = f"unknown {what} kind '{name}'{hint or f'; known: {known}'}"
        return message, True, (*loc, name)
    if isinstance(value, dict) and value:
        names = ", ".join(map(str, value))
        return f"a {what} has exactly one kind, found {names}; split it into rules", True, loc
    return (
        f"{what} must name one kind, e.g. {{{known.split(', ')[0]}: {{...}}}}; known: {known}",
        (True),
        loc,
    )


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known: {', '.join(known)}" if known else ""


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def _known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed in the mapping at `loc`, by walking the model's annotations."""
    current: Any = model
    for i, part in enumerate(loc):
        if isinstance(part, int):
            current = _element(current)
            continue
        if i and loc[i - 1] in _KINDS and isinstance(current, _UnionMarker):
            current = _KINDS[str(loc[i - 1])].get(part)
        fields = getattr(current, "model_fields", None)
        if not fields:
            return []
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        current = _UnionMarker() if part in _KINDS else _unwrap(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


class _UnionMarker:
    """Stands for a trigger/action union while walking; the next key picks the kind."""


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [m for m in members if _is_model(_unwrap(m))]  # a path, or a mapping
            if len(members) != 1 and len(models) != 1:
                return annotation
            annotation = members[0] if len(members) == 1 else models[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _element(annotation: Any) -> Any:
    args = typing.get_args(_unwrap(annotation))
    return _unwrap(args[-1]) if args else None
