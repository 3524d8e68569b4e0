"""Planning looks up who may fall due (outreach.core.due) instead of asking every contact:
the plan is the same, decision for decision, as when every contact is asked — across time
zones at both ends of the day, leap days under every policy, leads over New Year, date
columns with offsets either way, and windows from a day to over a year."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.core import planning
from outreach.core.due import due_contacts
from outreach.core.model import Decision, FeedEntry, Mention, Purchase
from outreach.core.timing import DateRange

from .factory import dataset, engine, person, rule

ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu", None]
POLICIES = ["feb28", "mar1", "skip"]

days_of_year = st.dates(date(1950, 1, 1), date(2004, 12, 31))
birthdays = st.one_of(
    st.none(),
    days_of_year.map(date.isoformat),
    days_of_year.map(lambda d: f"{d.month:02d}-{d.day:02d}"),
    st.sampled_from(["1984-02-29", "02-29", "1990-12-31", "01-01"]),
)
bought = st.lists(
    st.tuples(st.dates(date(2023, 6, 1), date(2030, 6, 1)), st.integers(5, 200)), max_size=5
)
contacts = st.lists(
    st.tuples(
        birthdays,
        st.sampled_from(ZONES),
        st.one_of(st.none(), days_of_year),
        bought,
        st.one_of(st.none(), st.integers(0, 11)),  # who referred them
        st.sampled_from([None, "acme", "bolt", "cargo"]),  # where they work
    ),
    min_size=1,
    max_size=12,
)
STAGES = ["first_time_customer", "repeat_customer", "client", "advocate", "prospect"]
purchase_triggers = st.one_of(
    st.builds(
        lambda n: {"purchase_milestone": {"count": n}}, st.lists(st.integers(1, 4), min_size=1)
    ),
    st.builds(
        lambda t: {"purchase_milestone": {"lifetime_total": t}},
        st.lists(st.integers(50, 400), min_size=1),
    ),
    st.builds(lambda a: {"purchase_milestone": {"single_amount_over": a}}, st.integers(10, 150)),
    st.builds(lambda d: {"inactivity": {"days": d}}, st.integers(1, 400)),
    st.builds(
        lambda to: {"loyalty_stage": {"to": to, "client": {"count": 3}}},
        st.lists(st.sampled_from(STAGES), min_size=1, max_size=3, unique=True),
    ),
)
news_triggers = st.builds(
    lambda companies: {"news_mention": {"companies": companies}},
    st.one_of(st.none(), st.lists(st.sampled_from(["acme", "bolt"]), min_size=1)),
)
rules = st.lists(
    st.one_of(
        news_triggers,
        purchase_triggers,
        st.builds(
            lambda lead, policy: {"birthday": {"lead_days": lead, "feb29": policy}},
            st.integers(0, 40),
            st.sampled_from(POLICIES),
        ),
        st.builds(
            lambda lead, policy: {"anniversary": {"lead_days": lead, "feb29": policy}},
            st.integers(0, 40),
            st.sampled_from(POLICIES),
        ),
        st.builds(
            lambda offset: {"date": {"field": "renewal_date", "offset_days": offset}},
            st.integers(-400, 400),
        ),
    ),
    min_size=1,
    max_size=4,
)
moments = st.datetimes(datetime(2024, 1, 1), datetime(2029, 12, 31), timezones=st.just(UTC))


def decided(decisions: list[Decision]) -> list[tuple[Any, ...]]:
    return [(d.key, d.status, d.send_at, d.reason) for d in decisions]


stories = st.lists(
    st.tuples(st.sampled_from(["acme", "bolt", "cargo"]), moments, st.integers(0, 3)), max_size=4
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=contacts, triggers=rules, news=stories, now=moments, days=st.integers(1, 420))
def test_the_plan_is_the_same_as_when_every_contact_is_asked(
    people: list[tuple[Any, ...]],
    triggers: list[dict[str, Any]],
    news: list[tuple[str, datetime, int]],
    now: datetime,
    days: int,
) -> None:
    eng = engine(*({"id": f"r{i}", "trigger": t, "action": {"email": {"template": "note"}}}
                   for i, t in enumerate(triggers)))  # fmt: skip
    data = dataset(
        *(
            person(f"c-{i}", birthday, tz, customer_since=since and since.isoformat(),
                   renewal_date=(since + timedelta(days=9000)).isoformat() if since else "",
                   referred_by=f"c-{referrer}" if referrer is not None else None,
                   company_id=company)
            for i, (birthday, tz, since, _, referrer, company) in enumerate(people)
        ),
        mentions=[
            Mention(company, FeedEntry(f"e-{n}", "News", f"https://n.test/{n}", at), "s", 0.9,
                    at + timedelta(days=later))
            for n, (company, at, later) in enumerate(news)
        ],
        purchases=[
            Purchase(f"c-{i}-p{n}", f"c-{i}", day, Decimal(amount), "EUR", "Van")
            for i, (_, _, _, purchases, _, _) in enumerate(people)
            for n, (day, amount) in enumerate(purchases)
        ],
    )  # fmt: skip
    until = now + timedelta(days=days)
    looked_up = eng.plan(data, now, until)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning, "due_contacts", lambda *args: None)
        asked = eng.plan(data, now, until)
    assert decided(looked_up) == decided(asked)


def test_a_lookup_names_only_who_may_fall_due() -> None:
    data = dataset(
        person("c-june", "1980-06-10"),
        person("c-leap", "1984-02-29"),
        person("c-none", None),
        person("c-dec", "12-31"),
    )
    eng = engine(rule("b", {"birthday": {"lead_days": 3, "feb29": "mar1"}}))
    (birthdays,) = eng.rules

    def due(first: date, last: date) -> object:
        return due_contacts(birthdays, data, DateRange(first, last))

    assert due(date(2026, 6, 5), date(2026, 6, 8)) == {"c-june"}
    # Mar 1 of a common year, three days ahead: the leap-day birthday may fire
    assert due(date(2027, 2, 24), date(2027, 2, 27)) == {"c-leap"}
    assert due(date(2026, 12, 27), date(2026, 12, 29)) == {"c-dec"}  # a lead over New Year
    assert due(date(2026, 1, 1), date(2027, 6, 1)) is None  # over a year: anyone


def test_an_index_is_built_once_for_the_contacts_it_serves() -> None:
    data = dataset(person("c-1", "1980-06-10"))
    eng = engine(rule("b", {"birthday": {}}))
    (birthdays,) = eng.rules
    due_contacts(birthdays, data, DateRange(date(2026, 6, 9), date(2026, 6, 11)))
    built = data.indexes["birthday"]
    due_contacts(birthdays, data, DateRange(date(2026, 7, 9), date(2026, 7, 11)))
    assert data.indexes["birthday"] is built


def test_a_zone_ahead_of_utc_is_looked_up_on_its_own_date() -> None:
    """At 23:00 UTC on June 10 it is already June 11, 13:00 in Kiritimati: a birthday there
    on June 11 at 09:00 is due before the window ends, though June 11 is after it in UTC."""
    eng = engine(rule("b", {"birthday": {}}))
    data = dataset(person("c-ahead", "1980-06-11", tz="Pacific/Kiritimati"))
    now = datetime(2026, 6, 1, 23, tzinfo=UTC)
    (decision,) = eng.plan(data, now, now + timedelta(days=9))
    assert decision.contact_id == "c-ahead"


def test_a_referrer_is_looked_up_when_someone_they_referred_first_buys() -> None:
    """`advocate` is entered by the purchase of someone else: the referrer, who bought
    nothing lately, is still asked."""
    eng = engine(rule("adv", {"loyalty_stage": {"to": ["advocate"]}}))
    data = dataset(
        person("c-old", None),
        person("c-new", None, referred_by="c-old"),
        purchases=[
            Purchase("p-1", "c-old", date(2020, 1, 5), Decimal(100), "EUR", "Van"),
            Purchase("p-2", "c-new", date(2026, 6, 3), Decimal(100), "EUR", "Van"),
        ],
    )
    now = datetime(2026, 6, 1, 8, tzinfo=UTC)
    (decision,) = eng.plan(data, now, now + timedelta(days=7))
    assert (decision.rule_id, decision.contact_id) == ("adv", "c-old")
