"""Builders for pure core tests: engines, contacts and purchases in memory, no files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from outreach.core.config import Config
from outreach.core.model import Birthday, Contact, Dataset, Decision, Purchase
from outreach.core.planning import Engine
from outreach.core.rendering import TemplateFile, Templates, parse_template_filename
from outreach.core.rules import Rule

BASE_TEMPLATES = {
    "note.j2": "{% block subject %}Hi {{ contact.first_name }}{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, {{ occasion.kind }}.{% endblock %}",
}
BASE_CONFIG: dict[str, Any] = {
    "timezone": "UTC",
    "locale": "en",
    "channels": {
        "email": {"provider": "smtp", "from": "Team <team@example.com>"},
        "gifts": {"provider": "file", "path": "out/gifts.jsonl"},
        "tasks": {"provider": "file", "path": "out/tasks.jsonl"},
    },
}


def rule(id: str = "r", trigger: Any = None, action: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "trigger": trigger or {"birthday": {}},
        "action": action or {"email": {"template": "note"}},
        **extra,
    }


def engine(
    *rules: dict[str, Any],
    templates: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
) -> Engine:
    files = []
    for filename, source in (templates or BASE_TEMPLATES).items():
        name, locale = parse_template_filename(filename)
        files.append(TemplateFile(name, locale, filename, f"templates/{filename}", source))
    settings = Config.model_validate({**BASE_CONFIG, **(config or {})})
    parsed = tuple(Rule.model_validate(r) for r in rules)
    compiled = Templates(files, settings.locale)
    conditions = {r.id: compiled.compile_condition(r.when) for r in parsed if r.when}
    return Engine(settings, parsed, compiled, conditions)


def person(
    id: str = "c-1",
    birthday: str | None = None,
    tz: str | None = None,
    locale: str | None = None,
    email: str | None = "client@example.com",
    **fields: Any,
) -> Contact:
    fields.setdefault("owner", "am@example.com")
    fields.setdefault("address_line1", "1 Harbour Street")
    fields.setdefault("city", "Reykjavík")
    typed: dict[str, Any] = {}
    for key in ("customer_since",):
        if fields.get(key):
            typed[key] = date.fromisoformat(fields[key])
    for key in ("company_id", "owner", "referred_by"):
        if fields.get(key):
            typed[key] = fields[key]
    if "opted_out" in fields:
        typed["opted_out"] = bool(fields.pop("opted_out"))
    if "tags" in fields:
        typed["tags"] = tuple(fields["tags"].split(";"))
    return Contact(
        id=id,
        fields={
            "id": id,
            "first_name": fields.pop("first_name", "Ada"),
            "last_name": "L",
            **{k: str(v) for k, v in fields.items()},
        },
        birthday=_birthday(birthday),
        timezone=tz,
        locale=locale,
        email=email,
        **typed,
    )


def _birthday(text: str | None) -> Birthday | None:
    if text is None:
        return None
    parts = [int(p) for p in text.split("-")]
    return Birthday(parts[-2], parts[-1], parts[0] if len(parts) == 3 else None)


def bought(
    contact_id: str, *days: str, amount: str = "100", product: str = "Van"
) -> list[Purchase]:
    return [
        Purchase(
            f"{contact_id}-p{i}", contact_id, date.fromisoformat(d), Decimal(amount), "EUR", product
        )
        for i, d in enumerate(days, 1)
    ]


def dataset(*contacts: Contact, purchases: list[Purchase] = (), **kwargs: Any) -> Dataset:  # type: ignore[assignment]
    return Dataset.build({c.id: c for c in contacts}, purchases=purchases, **kwargs)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def plan(eng: Engine, data: Dataset, now: str, days: int = 14) -> list[Decision]:
    from datetime import timedelta

    start = at(now)
    return eng.plan(data, start, start + timedelta(days=days))


def sends(decisions: list[Decision]) -> list[tuple[str, str, str, str]]:
    """(key, send_at, status, reason-or-subject) rows: compact to compare."""
    return [
        (
            d.key,
            d.send_at.isoformat(),
            d.status.value,
            d.reason or (d.message.subject if d.message else ""),
        )
        for d in decisions
    ]
