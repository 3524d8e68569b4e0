"""The rule-file language, as pydantic models.

A rule file holds `rules:`, a list. Each rule has one trigger and one action, both written as
a single-key mapping whose key names the kind (`trigger: {birthday: {lead_days: 3}}`); the
kind selects the model through a discriminated union, so an unknown kind is reported with
the list of known ones.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from outreach.core.keys import MAX_RULE_ID
from outreach.core.schema_types import (
    Amount,
    Clock,
    Duration,
    OwnerOrMailbox,
    SingleLine,
    Strict,
)
from outreach.core.timing import parse_clock, parse_duration

Feb29 = Literal["feb28", "mar1", "skip"]
Stage = Literal["prospect", "first_time_customer", "repeat_customer", "client", "advocate"]
STAGES: tuple[Stage, ...] = (
    "prospect",
    "first_time_customer",
    "repeat_customer",
    "client",
    "advocate",
)
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
TemplateName = Annotated[str, Field(pattern=TEMPLATE_NAME.pattern)]


# Trigger parameters ------------------------------------------------------------------------


class Birthday(Strict):
    lead_days: int = Field(0, ge=0, le=366, description="days before the birthday")
    feb29: Feb29 = Field("feb28", description="when a Feb 29 birthday is kept in common years")


class Anniversary(Strict):
    field: str = Field("customer_since", description="a date column of contacts.csv")
    years: list[PositiveInt] | None = Field(None, description="which anniversaries; all if omitted")
    lead_days: int = Field(0, ge=0, le=366)
    feb29: Feb29 = "feb28"


class OnDate(Strict):
    field: str = Field(description="a date column of contacts.csv")
    offset_days: int = Field(
        0, ge=-36600, le=36600, description="days after (negative: before) that date"
    )


class PurchaseMilestone(Strict):
    count: list[PositiveInt] | None = Field(None, description="fires on the Nth purchase")
    lifetime_total: list[Amount] | None = Field(None, description="fires when the sum crosses it")
    single_amount_over: Amount | None = Field(None, description="fires on each larger purchase")
    product: str | None = Field(None, description="only purchases whose product matches this glob")

    @model_validator(mode="after")
    def _exactly_one_measure(self) -> PurchaseMilestone:
        given = [
            name
            for name in ("count", "lifetime_total", "single_amount_over")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of count, lifetime_total, single_amount_over"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self


class Inactivity(Strict):
    days: int = Field(ge=1, le=36600, description="days since the last purchase")


class ClientThreshold(Strict):
    """Whichever is reached first makes a client; give one or both."""

    count: PositiveInt | None = Field(None, description="purchases that make a client")
    lifetime_total: Amount | None = Field(None, description="lifetime total that makes one")

    @model_validator(mode="after")
    def _something_to_reach(self) -> ClientThreshold:
        if self.count is None and self.lifetime_total is None:
            raise ValueError("give count, lifetime_total, or both")
        return self


class LoyaltyStage(Strict):
    to: list[Stage] = Field(min_length=1, description="stages whose entry fires the rule")
    client: ClientThreshold = ClientThreshold(count=5)


class NewsMention(Strict):
    companies: list[str] | None = Field(None, description="company ids; all if omitted")
    keywords_any: list[str] = Field(default_factory=list)
    keywords_none: list[str] = Field(default_factory=list)
    max_age: Duration = Field(parse_duration("3d"), description="how old a story may be")
    min_confidence: float = Field(0.8, ge=0, le=1)


# Actions ---------------------------------------------------------------------------------


class EmailAction(Strict):
    template: TemplateName
    from_: OwnerOrMailbox = Field("owner", alias="from", description="'owner' or an address")
    reply_to: OwnerOrMailbox | None = Field(None, description="'owner' or an address")


class Money(Strict):
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class YearlyGiftLimit(Strict):
    """What this rule may spend on gifts in a calendar year, in the budget's currency."""

    per_contact: Amount | None = None
    per_company: Amount | None = None


class GiftAction(Strict):
    item: SingleLine = Field(min_length=1)
    budget: Money | None = None
    card: TemplateName | None = Field(None, description="template of the card's text")
    ship_days: int = Field(0, ge=0, le=365, description="due this many days before the occasion")
    max_per_year: YearlyGiftLimit | None = Field(
        None,
        description="spend of this rule per contact / per company per calendar year; a gift "
        "that would go over is held for approval with that reason",
    )

    @model_validator(mode="after")
    def _limit_needs_budget(self) -> GiftAction:
        if self.max_per_year is not None and self.budget is None:
            raise ValueError("max_per_year needs a budget: it adds up the gifts' budgets")
        return self


class TaskAction(Strict):
    template: TemplateName
    assignee: OwnerOrMailbox = Field("owner", description="'owner' or an address")


class WebhookAction(Strict):
    url: str = Field(pattern=r"^https?://\S+$")
    template: TemplateName = Field(description="renders the JSON body (its `text` block)")


# Single-key wrappers: the key is the kind ---------------------------------------------------


class _Kind(Strict):
    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) == 1:
            ((key, value),) = data.items()
            if value is None:
                return {key: {}}
        return data

    @property
    def kind(self) -> str:
        return next(iter(type(self).model_fields))

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)


class BirthdayTrigger(_Kind):
    birthday: Birthday


class AnniversaryTrigger(_Kind):
    anniversary: Anniversary


class DateTrigger(_Kind):
    date: OnDate


class PurchaseMilestoneTrigger(_Kind):
    purchase_milestone: PurchaseMilestone


class InactivityTrigger(_Kind):
    inactivity: Inactivity


class LoyaltyStageTrigger(_Kind):
    loyalty_stage: LoyaltyStage


class NewsMentionTrigger(_Kind):
    news_mention: NewsMention


class EmailKind(_Kind):
    email: EmailAction


class GiftKind(_Kind):
    gift: GiftAction


class TaskKind(_Kind):
    task: TaskAction


class WebhookKind(_Kind):
    webhook: WebhookAction


# The data each trigger kind reads besides the contacts: without it, the rule never fires.
TRIGGER_DATA: dict[str, tuple[str, ...]] = {
    "purchase_milestone": ("purchases",),
    "inactivity": ("purchases",),
    "loyalty_stage": ("purchases",),
    "news_mention": ("feeds", "companies"),
}

TRIGGER_KINDS: dict[str, type[_Kind]] = {
    "birthday": BirthdayTrigger,
    "anniversary": AnniversaryTrigger,
    "date": DateTrigger,
    "purchase_milestone": PurchaseMilestoneTrigger,
    "inactivity": InactivityTrigger,
    "loyalty_stage": LoyaltyStageTrigger,
    "news_mention": NewsMentionTrigger,
}
ACTION_KINDS: dict[str, type[_Kind]] = {
    "email": EmailKind,
    "gift": GiftKind,
    "task": TaskKind,
    "webhook": WebhookKind,
}
# Which channel of outreach.yaml carries each action kind.
ACTION_CHANNELS = {"email": "email", "gift": "gifts", "task": "tasks", "webhook": "webhook"}


def _single_key(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, _Kind):
        return value.kind
    return None


def _union(kinds: dict[str, type[_Kind]], what: str) -> Any:
    members = tuple(Annotated[model, Tag(name)] for name, model in kinds.items())
    return Annotated[
        (members[0] if len(members) == 1 else _or(members)),
        Discriminator(
            _single_key,
            custom_error_type="unknown_kind",
            custom_error_message=f"unknown {what} kind; known: {', '.join(kinds)}",
            custom_error_context={"what": what, "known": ", ".join(kinds)},
        ),
    ]


def _or(members: tuple[Any, ...]) -> Any:
    union = members[0]
    for member in members[1:]:
        union = union | member
    return union


if TYPE_CHECKING:  # the unions are built at run time; to the type checker both are kinds
    Trigger = _Kind
    Action = _Kind
else:
    Trigger = _union(TRIGGER_KINDS, "trigger")
    Action = _union(ACTION_KINDS, "action")


class Schedule(Strict):
    at: Clock = Field(parse_clock("09:00"), description="recipient local time")
    late_by_at_most: Duration = Field(
        parse_duration("1d"), description="catch-up window; older occasions are 'late'"
    )


class Rule(Strict):
    id: str = Field(
        pattern=RULE_ID.pattern, max_length=MAX_RULE_ID, description="unique across the workspace"
    )
    description: str = ""
    trigger: Trigger
    when: str | None = Field(None, description="a Jinja expression; the rule fires when true")
    action: Action
    schedule: Schedule = Schedule()
    approval: Literal["auto", "required"] | None = Field(
        None, description="default: required for gifts, auto for the rest"
    )
    priority: int = Field(0, description="higher wins under the frequency cap")
    enabled: bool = True

    @field_validator("when")
    @classmethod
    def _when_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("`when:` is empty; remove it or write a condition")
        return value

    @property
    def needs_approval(self) -> bool:
        if self.approval is None:
            return bool(self.action.kind == "gift")
        return self.approval == "required"


class RuleFile(Strict):
    """A file under rules/."""

    rules: list[Rule]
