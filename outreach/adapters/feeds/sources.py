"""feeds.yaml: which feeds to read, in which language, how often."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from outreach.adapters.feeds.messages import safe_url
from outreach.adapters.sources.files import Boundary
from outreach.adapters.sources.yamlfile import load_yaml_file
from outreach.core.diagnostics import validation_problems
from outreach.core.problems import Problem, problem, warning
from outreach.core.schema_types import Duration, Strict

DEFAULT_EVERY = timedelta(minutes=30)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


# --- feeds.yaml ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedSource:
    url: str  # http(s) URL, or a file path relative to the workspace root
    language: str = "xx"
    every: timedelta = DEFAULT_EVERY
    line: int = 0  # where the entry stands in feeds.yaml, for messages


class _FeedModel(Strict):
    url: str = Field(min_length=1, max_length=2000)
    language: str = "xx"
    every: Duration = DEFAULT_EVERY

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if is_http_url(value):
            try:
                host = httpx.URL(value).host
            except httpx.InvalidURL as exc:
                raise ValueError(f"'{value}' is not a valid URL ({exc})") from None
            if not host:
                raise ValueError(f"'{value}' has no host name; write e.g. https://news.example/rss")
            return value
        within = (info.context or {}).get("within")
        if within is not None:
            resolve_feed_path(value, within)
        elif Path(value).is_absolute() or _escapes(value):
            raise ValueError(f"'{value}' is outside the workspace; write a path inside it")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not _LANGUAGE.match(value):
            raise ValueError(f"'{value}' is not a language code; write e.g. en, is, uk, or xx")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("poll at most once a minute; write e.g. 30m")
        return value


class _FeedsFile(Strict):
    feeds: list[_FeedModel]


def load_feed_sources(
    path: Path, shown_as: str, within: Boundary | None = None
) -> tuple[list[FeedSource], list[Problem]]:
    """Read feeds.yaml (a path from `Boundary.confine`). Each bad entry is a located problem
    and is skipped. With `within` (the workspace's boundary), file paths are also checked
    against symlinks leading out of it."""
    document = load_yaml_file(path, shown_as)
    problems = list(document.problems)
    if document.data is None:
        return [], problems
    items = document.data.get("feeds") if isinstance(document.data, dict) else None
    if not isinstance(items, list):
        problems.append(problem(shown_as, 1, 1, "expected `feeds:` with a list of feeds"))
        return [], problems
    sources: dict[str, FeedSource] = {}
    for i, item in enumerate(items):
        try:
            model = _FeedModel.model_validate(item, context={"within": within})
        except ValidationError as exc:
            problems += validation_problems(exc, document.locate, _FeedsFile, ("feeds", i))
            continue
        where = document.locate(("feeds", i), False)
        if model.url in sources:
            first = sources[model.url].line
            shown = safe_url(model.url)
            message = f"feed '{shown}' is listed twice (first at line {first}); skipped"
            problems.append(warning(where.path, where.line, where.col, message))
            continue
        sources[model.url] = FeedSource(model.url, model.language, model.every, where.line or 0)
    return list(sources.values()), problems


def is_http_url(ref: str) -> bool:
    return ref.lower().startswith(("http://", "https://"))


def resolve_feed_path(ref: str, within: Boundary) -> Path:
    """The file a non-URL feed names (relative to the workspace), which must stay inside it
    or a folder it allows, after symlinks; Refused (a ValueError) when it does not."""
    if _SCHEME.match(ref):
        raise ValueError(f"'{ref}' is neither an http(s) URL nor a file path")
    return within.confine(within.root / ref)  # an absolute `ref` replaces the root


def _escapes(ref: str) -> bool:
    parts = Path(os.path.normpath(ref)).parts
    return bool(parts) and parts[0] == ".."
