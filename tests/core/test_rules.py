"""Rule-file models and the problems they report, pointing into the YAML."""

import pytest
from pydantic import ValidationError

from outreach.adapters.sources.yamlfile import parse_yaml
from outreach.core.diagnostics import validation_problems
from outreach.core.rules import TRIGGER_KINDS, Rule, RuleFile

RULES = """\
rules:
  - id: a
    trigger:
      birthday: {lead_day: 3, feb29: feb30}
    action:
      email: {template: birthday, frm: owner}
    schedule: {at: '25:00', late_by_at_most: 2x}
  - id: b
    trigger: {birthdy: {}}
    action: {sms: {}}
  - id: c
    trigger: {birthday: {}, inactivity: {days: 3}}
    action: {email: {template: x}}
  - id: d
    trigger: {purchase_milestone: {count: [1], lifetime_total: [5]}}
    action: {gift: {item: x, budget: {amount: 3, currency: eur}}}
"""


def problems_of(text: str) -> list[str]:
    document = parse_yaml(text, "rules/x.yaml")
    found = []
    for index, item in enumerate(document.data["rules"]):
        try:
            Rule.model_validate(item)
        except ValidationError as exc:
            found += validation_problems(exc, document.locate, RuleFile, ("rules", index))
    return sorted(str(p) for p in found)


def test_every_mistake_points_at_its_line_and_column():
    assert problems_of(RULES) == sorted(
        [
            "rules/x.yaml:4:18: rules[0].trigger.birthday.lead_day: unknown key 'lead_day'; "
            "did you mean 'lead_days'?",
            "rules/x.yaml:4:38: rules[0].trigger.birthday.feb29: Input should be 'feb28', "
            "'mar1' or 'skip' (got 'feb30')",
            "rules/x.yaml:6:35: rules[0].action.email.frm: unknown key 'frm'; did you mean 'from'?",
            "rules/x.yaml:7:20: rules[0].schedule.at: '25:00' is not a time of day; write HH:MM, "
            "e.g. 09:00",
            "rules/x.yaml:7:46: rules[0].schedule.late_by_at_most: '2x' is not a duration; write a "
            "number and a unit: 30m, 12h, 2d, 1w",
            "rules/x.yaml:9:15: rules[1].trigger: unknown trigger kind 'birthdy'; did you mean "
            "'birthday'?",
            "rules/x.yaml:10:14: rules[1].action: unknown action kind 'sms'; known: email, gift, "
            "task, webhook",
            "rules/x.yaml:12:5: rules[2].trigger: a trigger has exactly one kind, found birthday, "
            "inactivity; split it into rules",
            "rules/x.yaml:15:35: rules[3].trigger.purchase_milestone: give exactly one of count, "
            "lifetime_total, single_amount_over (found count, lifetime_total)",
            "rules/x.yaml:16:60: rules[3].action.gift.budget.currency: String should match pattern "
            "'^[A-Z]{3}$' (got 'eur')",
        ]
    )


def test_an_empty_kind_means_its_defaults():
    rule = Rule.model_validate(
        {"id": "x", "trigger": {"birthday": None}, "action": {"email": {"template": "t"}}}
    )
    assert rule.trigger.kind == "birthday"
    assert rule.trigger.params.feb29 == "feb28"
    assert rule.schedule.at.isoformat() == "09:00:00"
    assert rule.needs_approval is False


@pytest.mark.parametrize(
    ("approval", "expected"), [(None, True), ("auto", False), ("required", True)]
)
def test_gifts_need_approval_unless_told_otherwise(approval, expected):
    rule = Rule.model_validate(
        {
            "id": "g",
            "trigger": {"birthday": {}},
            "approval": approval,
            "action": {"gift": {"item": "Pencil"}},
        }
    )
    assert rule.needs_approval is expected


def test_the_json_schema_describes_the_yaml_form():
    schema = RuleFile.model_json_schema(by_alias=True)
    text = str(schema)
    for kind in TRIGGER_KINDS:
        assert f"'{kind}'" in text
    assert "'from'" in text and "from_" not in text


@pytest.mark.parametrize(
    ("trigger", "schedule"),
    [
        ({"date": {"field": "customer_since", "offset_days": 3000000}}, {}),
        ({"inactivity": {"days": 3000000}}, {}),
        ({"birthday": {}}, {"late_by_at_most": "99999999999d"}),
        ({"birthday": {}}, {"late_by_at_most": "1000000d"}),
    ],
)
def test_absurd_numbers_are_validation_errors_not_crashes(trigger, schedule):
    with pytest.raises(ValidationError):
        Rule.model_validate(
            {
                "id": "x",
                "trigger": trigger,
                "schedule": schedule,
                "action": {"email": {"template": "t"}},
            }
        )


@pytest.mark.parametrize(
    "action",
    [
        {"email": {"template": "t", "from": "not an address\r\nBcc: evil@z.test"}},
        {"email": {"template": "t", "reply_to": "a@b.test\nBcc: evil@z.test"}},
        {"task": {"template": "t", "assignee": "someone"}},
    ],
)
def test_addresses_are_addresses_and_one_line(action):
    with pytest.raises(ValidationError, match="not an address"):
        Rule.model_validate({"id": "x", "trigger": {"birthday": {}}, "action": action})


def test_owner_names_are_one_line():
    from outreach.core.config import Config

    with pytest.raises(ValidationError, match="line breaks"):
        Config.model_validate({"owners": {"bob@x.test": {"name": "Bob\r\nBcc: evil@z.test"}}})


@pytest.mark.parametrize("amount", ["1e999999999", "Infinity", "NaN", "-1", "1e16"])
def test_amounts_in_rules_are_bounded(amount: str) -> None:
    milestone = {"purchase_milestone": {"lifetime_total": [amount]}}
    rule = {"id": "x", "trigger": milestone, "action": {"email": {"template": "t"}}}
    with pytest.raises(ValidationError):
        Rule.model_validate(rule)
