"""Planning again only the rules whose definition changed, with the same decisions a plan
of every rule would make for them.

A rule's fingerprint covers what its decisions are made from besides the data: the rule as
written (trigger, `when:`, action, schedule, priority...) and the text of its templates in
every locale. Templates no rule names (partials, macros a template may include) count for
every rule: a change to one re-plans them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from outreach.core.model import Dataset, Decision, Status
from outreach.core.planning import Engine
from outreach.core.policies import History

# Statuses by which a decision takes part in the frequency cap or a gift limit.
_WEIGHED = frozenset({Status.PLANNED, Status.NEEDS_APPROVAL, Status.CAPPED})


def rule_fingerprints(engine: Engine) -> dict[str, str]:
    """Each rule's id -> a digest of its definition and of the templates it renders."""
    files = engine.templates.files
    named = {rule.id: set(_template_names(rule.model_dump(mode="json"))) for rule in engine.rules}
    used = set().union(*named.values())
    shared = sorted(name for name, f in files.items() if f.name not in used)
    prints = {}
    for rule in engine.rules:
        digest = hashlib.sha256(rule.model_dump_json().encode())
        mine = sorted(name for name, f in files.items() if f.name in named[rule.id])
        for filename in [*mine, *shared]:
            digest.update(b"\0" + filename.encode() + b"\0" + files[filename].source.encode())
        prints[rule.id] = digest.hexdigest()
    return prints


def changed_rules(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """The rules added or edited between two sets of fingerprints (removed ones are not
    planned: their open actions are cancelled once they stayed gone)."""
    return {rule for rule, print_ in after.items() if before.get(rule) != print_}


def _template_names(value: Any) -> Iterator[str]:
    """Every template a rule names, wherever its action keeps it (`template`, `card`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("template", "card") and isinstance(inner, str):
                yield inner
            else:
                yield from _template_names(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _template_names(inner)


def plan_rules(
    engine: Engine,
    data: Dataset,
    now: datetime,
    until: datetime,
    history: History,
    rules: Collection[str],
) -> list[Decision]:
    """The decisions of `rules` alone, as `engine.plan` of every rule makes them. The
    frequency cap weighs each contact's actions of all rules together: a contact one of
    `rules` may act on is planned again with every rule, and its decisions of `rules` are
    taken from that plan. (Gift limits are per rule: planning a rule alone keeps them.)"""
    alone = engine.plan(data, now, until, history, rules=rules)
    if engine.config.policies.max_per_contact is None:
        return alone
    weighed = {d.contact_id for d in alone if d.status in _WEIGHED}
    if not weighed:
        return alone
    together = engine.plan(data, now, until, history, contacts=sorted(weighed))
    chosen = set(rules)
    return [d for d in alone if d.contact_id not in weighed] + [
        d for d in together if d.rule_id in chosen
    ]
