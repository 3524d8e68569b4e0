"""YAML that remembers where every value stands, so errors can say `file:line:col`.

Safe loading only, with YAML 1.2-like scalars: `10:30` stays a string (not 630) and `no`
stays a string (not False: it is Norwegian). Duplicate keys are reported, not silently
overwritten. Files and alias expansion are capped in size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from outreach.adapters.sources.files import Refused, read_text
from outreach.core.problems import Location, Problem, problem

Loc = tuple[str | int, ...]
MAX_NODES = 200_000
MAX_DEPTH = 100  # lists and mappings within each other; real files nest a handful
MAX_NUMBER_LENGTH = 100  # characters; Python cannot even print an int of 4,300 digits


# libyaml's parser when PyYAML was built with it: the same nodes and marks, many times faster.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """A safe loader without YAML 1.1's surprising implicit types."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9]+(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


@dataclass
class YamlDocument:
    path: str  # as shown to the user
    data: Any
    marks: dict[Loc, tuple[yaml.Mark | None, yaml.Mark]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def locate(self, loc: Loc, at_key: bool = False) -> Location:
        """Where the value at `loc` stands (or its key, with `at_key`); the nearest enclosing
        node when `loc` itself is missing from the file."""
        for end in range(len(loc), -1, -1):
            marks = self.marks.get(loc[:end])
            if marks is not None:
                key_mark, value_mark = marks
                exact = end == len(loc)
                mark = key_mark if (at_key and exact and key_mark is not None) else value_mark
                return Location(self.path, mark.line + 1, mark.column + 1)
        return Location(self.path, 1, 1)


def load_yaml_file(path: Path, shown_as: str, max_bytes: int = 2_000_000) -> YamlDocument:
    """Load one YAML file (a path from `Boundary.confine`); a file that cannot be read or
    parsed comes back as problems with an empty document."""
    try:
        text = read_text(path, max_bytes, "split it, or check it is the right file")
    except Refused as exc:
        return _failed(shown_as, None, None, str(exc))
    except OSError as exc:
        return _failed(shown_as, None, None, f"cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return _failed(shown_as, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    return parse_yaml(text, shown_as)


def parse_yaml(text: str, shown_as: str) -> YamlDocument:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        document = YamlDocument(shown_as, None)
        if node is not None:
            builder = _Builder(loader, document)
            document.data = builder.build(node, ())
        return document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        context = exc.context
        start = exc.context_mark
        if context and start is not None and start.line + 1 != line:
            context += f" (opened at line {start.line + 1}, column {start.column + 1})"
        message = " ".join(part for part in (context, exc.problem) if part)
        return _failed(shown_as, line, col, f"YAML syntax: {message}")
    except yaml.YAMLError as exc:
        return _failed(shown_as, None, None, f"YAML: {exc}")
    except _TooLarge:
        return _failed(shown_as, 1, 1, f"aliases make more than {MAX_NODES} values (a bomb?)")
    except _BadValue as exc:
        return _failed(shown_as, exc.mark.line + 1, exc.mark.column + 1, str(exc))
    except RecursionError:  # the pure-Python parser, without libyaml's own depth limit
        return _failed(shown_as, None, None, f"nested more than {MAX_DEPTH} levels deep")
    finally:
        loader.dispose()


def _failed(path: str, line: int | None, col: int | None, message: str) -> YamlDocument:
    return YamlDocument(path, None, problems=[problem(path, line, col, message)])


class _TooLarge(Exception):
    pass


class _BadValue(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.mark: yaml.Mark = node.start_mark


_KINDS = {
    "tag:yaml.org,2002:int": "whole number",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:timestamp": "date",
}


_QUOTE = "; write it in quotes if it is text"


def _excerpt(value: object) -> str:
    text = str(value)
    if len(text) <= 40:
        return repr(text)
    return f"{text[:20]!r}… ({len(text)} characters)"


class _Builder:
    def __init__(self, loader: _Loader, document: YamlDocument) -> None:
        self.loader = loader
        self.document = document
        self.seen: set[int] = set()
        self.again = 0  # values built again through an alias

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        # A file holds as many values as its text has room for; only aliases can make more
        # (a billion laughs): those are counted.
        if id(node) in self.seen:
            self.again += 1
            if self.again > MAX_NODES:
                raise _TooLarge
        self.seen.add(id(node))
        if len(loc) > MAX_DEPTH:
            raise _BadValue(node, f"nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(node, yaml.MappingNode):
            _plain_tag(node, "tag:yaml.org,2002:map")
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            _plain_tag(node, "tag:yaml.org,2002:seq")
            return [self._item(item, (*loc, i), None) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        """A plain value; one PyYAML cannot turn into its type (a date 2020-13-45, a number
        of 5,000 digits, a float beyond the largest) is a located problem, not a traceback."""
        kind = _KINDS.get(node.tag, "value")
        too_large = f"{_excerpt(node.value)} is too large a number{_QUOTE}"
        if kind.endswith("number") and len(node.value) > MAX_NUMBER_LENGTH:
            raise _BadValue(node, too_large)
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's constructors raise ValueError, KeyError, ...
            raise _BadValue(node, f"{_excerpt(node.value)} is not a valid {kind}{_QUOTE}") from exc
        if isinstance(value, float) and not math.isfinite(value):
            raise _BadValue(node, too_large)
        return value

    def _item(self, node: yaml.Node, loc: Loc, key_mark: yaml.Mark | None) -> Any:
        self.document.marks[loc] = (key_mark, node.start_mark)
        return self.build(node, loc)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        explicit = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves `<<: *base`, putting merged pairs first
        merged, written = node.value[: len(node.value) - explicit], node.value[-explicit:]
        result: dict[Any, Any] = {}
        for key_node, value_node in written if explicit else []:
            key = self._key(key_node)
            if key is None:
                continue
            if key in result:
                self._duplicate(key_node, (*loc, key))
                continue
            result[key] = self._item(value_node, (*loc, key), key_node.start_mark)
        for key_node, value_node in merged:  # keys written out win over merged ones
            key = self._key(key_node)
            if key is not None and key not in result:
                result[key] = self._item(value_node, (*loc, key), key_node.start_mark)
        return result

    def _key(self, node: yaml.Node) -> Any:
        key = self._scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(key, str | int | float | bool):
            return key
        mark = node.start_mark
        self.document.problems.append(
            problem(
                self.document.path, mark.line + 1, mark.column + 1, "a key must be a plain value"
            )
        )
        return None

    def _duplicate(self, node: yaml.Node, loc: Loc) -> None:
        mark, first = node.start_mark, self.document.marks[loc][0]
        where = f" (first at line {first.line + 1})" if first else ""
        self.document.problems.append(
            problem(
                self.document.path,
                mark.line + 1,
                mark.column + 1,
                f"duplicate key '{loc[-1]}'{where}; keep one",
            )
        )


def _plain_tag(node: yaml.Node, expected: str) -> None:
    """Lists and mappings carry no tags here: a `!!python/...` one is refused, as safe_load
    does, rather than silently dropped."""
    if node.tag != expected:
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported tag {node.tag}; remove it", node.start_mark
        )
