"""Each trigger kind as a pure function of a contact's facts and a range of dates."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from outreach.core import rules as r
from outreach.core.timing import DateRange, zone
from outreach.core.triggers import KINDS, Subject

from .factory import bought, dataset, person

NOW = datetime(2026, 11, 22, 8, tzinfo=zone("UTC"))


def fire(kind, params, contact, first, last, purchases=(), now=NOW, **data):
    subject = Subject.of(
        contact, dataset(contact, *data.pop("others", ()), purchases=list(purchases), **data), now
    )
    span = DateRange(date.fromisoformat(first), date.fromisoformat(last))
    return [
        (o.key, o.fire_date.isoformat(), dict(o.details))
        for o in KINDS[kind].occurrences(params, subject, span)
    ]


@pytest.mark.parametrize(
    ("birthday", "params", "first", "last", "expected"),
    [
        ("1990-03-05", r.Birthday(), "2027-03-01", "2027-03-10", [("2027", "2027-03-05", 37)]),
        ("03-05", r.Birthday(), "2027-03-01", "2027-03-10", [("2027", "2027-03-05", None)]),
        (
            "1988-02-29",
            r.Birthday(feb29="feb28"),
            "2027-02-01",
            "2027-03-31",
            [("2027", "2027-02-28", 39)],
        ),
        (
            "1988-02-29",
            r.Birthday(feb29="mar1"),
            "2027-02-01",
            "2027-03-31",
            [("2027", "2027-03-01", 39)],
        ),
        ("1988-02-29", r.Birthday(feb29="skip"), "2027-02-01", "2027-03-31", []),
        (
            "1988-02-29",
            r.Birthday(feb29="skip"),
            "2028-02-01",
            "2028-03-31",
            [("2028", "2028-02-29", 40)],
        ),
        (
            "1988-02-29",
            r.Birthday(feb29="mar1"),
            "2028-02-01",
            "2028-03-31",
            [("2028", "2028-02-29", 40)],
        ),
        # lead days reaching back over New Year: the key is the birthday's year
        (
            "1970-01-03",
            r.Birthday(lead_days=5),
            "2026-12-20",
            "2026-12-31",
            [("2027", "2026-12-29", 57)],
        ),
        ("1970-01-03", r.Birthday(lead_days=5), "2027-01-01", "2027-01-10", []),
        # never before birth
        ("2026-12-01", r.Birthday(), "2026-11-01", "2026-12-31", []),
    ],
)
def test_birthday(birthday, params, first, last, expected):
    found = fire("birthday", params, person(birthday=birthday), first, last)
    assert [(k, d, details["age"]) for k, d, details in found] == expected


def test_no_birthday_no_occurrence_and_explain_says_so():
    contact = person(birthday=None)
    assert fire("birthday", r.Birthday(), contact, "2026-01-01", "2027-12-31") == []
    subject = Subject.of(contact, dataset(contact), NOW)
    assert KINDS["birthday"].describe(r.Birthday(), subject) == "no birthday on file"


@pytest.mark.parametrize(
    ("params", "since", "first", "last", "expected"),
    [
        (r.Anniversary(), "2020-06-10", "2026-06-01", "2026-06-30", [("2026", "2026-06-10", 6)]),
        (
            r.Anniversary(years=[1, 5]),
            "2021-06-10",
            "2026-06-01",
            "2026-06-30",
            [("2026", "2026-06-10", 5)],
        ),
        (r.Anniversary(years=[1, 10]), "2021-06-10", "2026-06-01", "2026-06-30", []),
        (
            r.Anniversary(lead_days=3),
            "2020-01-02",
            "2026-12-28",
            "2026-12-31",
            [("2027", "2026-12-30", 7)],
        ),
        (r.Anniversary(), "2026-06-10", "2026-06-01", "2026-06-30", []),  # year 0 is no anniversary
        (r.Anniversary(field="renewal"), None, "2026-06-01", "2026-06-30", []),
    ],
)
def test_anniversary(params, since, first, last, expected):
    contact = person(customer_since=since) if since else person()
    found = fire("anniversary", params, contact, first, last)
    assert [(k, d, details["years"]) for k, d, details in found] == expected


def test_anniversary_of_another_date_column():
    contact = person(signed="2019-03-03")
    found = fire("anniversary", r.Anniversary(field="signed"), contact, "2026-03-01", "2026-03-31")
    assert found[0][:2] == ("2026", "2026-03-03")


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-30, [("2026-12-01", "2026-12-01")]), (0, []), (5, [])],
)
def test_fixed_date(offset, expected):
    contact = person(renewal_date="2026-12-31")
    found = fire(
        "date",
        r.OnDate(field="renewal_date", offset_days=offset),
        contact,
        "2026-11-25",
        "2026-12-10",
    )
    assert [(k, d) for k, d, _ in found] == expected


def test_fixed_date_with_a_bad_value_is_explained_not_raised():
    contact = person(renewal_date="soon")
    assert fire("date", r.OnDate(field="renewal_date"), contact, "2000-01-01", "2100-01-01") == []
    subject = Subject.of(contact, dataset(contact), NOW)
    assert "not a date" in KINDS["date"].describe(r.OnDate(field="renewal_date"), subject)


def milestone(**params):
    return r.PurchaseMilestone(**params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (milestone(count=[1, 3, 10]), [("count-1", "2026-01-05"), ("count-3", "2026-11-23")]),
        (milestone(lifetime_total=[Decimal(250)]), [("total-250", "2026-11-23")]),
        (
            milestone(single_amount_over=Decimal(99)),
            [
                ("purchase-c-1-p1", "2026-01-05"),
                ("purchase-c-1-p2", "2026-06-01"),
                ("purchase-c-1-p3", "2026-11-23"),
            ],
        ),
        (milestone(single_amount_over=Decimal(100)), []),
        (milestone(count=[1], product="van*"), [("count-1", "2026-01-05")]),
        (milestone(count=[1], product="truck*"), []),
    ],
)
def test_purchase_milestones(params, expected):
    purchases = bought("c-1", "2026-01-05", "2026-06-01", "2026-11-23", product="Van 3500")
    found = fire("purchase_milestone", params, person(), "2026-01-01", "2026-12-31", purchases)
    assert [(k, d) for k, d, _ in found] == expected


def test_milestone_details_carry_the_purchase_count_and_total():
    purchases = bought("c-1", "2026-01-05", "2026-06-01", amount="40.50")
    ((_, _, details),) = fire(
        "purchase_milestone", milestone(count=[2]), person(), "2026-01-01", "2026-12-31", purchases
    )
    assert details["count"] == 2
    assert details["total"] == Decimal("81.00")
    assert details["purchase"]["id"] == "c-1-p2"
    assert details["milestone"] == {"kind": "count", "value": 2}


def test_milestone_outside_the_range_does_not_fire():
    purchases = bought("c-1", *[f"2025-0{m}-01" for m in range(1, 10)], "2026-11-23")
    found = fire(
        "purchase_milestone", milestone(count=[10]), person(), "2026-11-01", "2026-11-20", purchases
    )
    assert found == []


@pytest.mark.parametrize(
    ("days", "first", "last", "expected"),
    [
        (180, "2026-11-01", "2026-12-31", [("after-2026-06-01", "2026-11-28")]),
        (180, "2026-12-01", "2026-12-31", []),
        (30, "2026-06-01", "2026-07-31", [("after-2026-06-01", "2026-07-01")]),
    ],
)
def test_inactivity_counts_from_the_last_purchase(days, first, last, expected):
    purchases = bought("c-1", "2026-01-05", "2026-06-01")
    found = fire("inactivity", r.Inactivity(days=days), person(), first, last, purchases)
    assert [(k, d) for k, d, _ in found] == expected


def test_inactivity_needs_a_purchase():
    assert fire("inactivity", r.Inactivity(days=1), person(), "2000-01-01", "2100-01-01") == []


def test_loyalty_stages_are_entered_by_purchases():
    purchases = bought("c-1", "2026-01-05", "2026-02-01", "2026-03-01", amount="600")
    params = r.LoyaltyStage(
        to=["prospect", "first_time_customer", "repeat_customer", "client"],
        client=r.ClientThreshold(count=None, lifetime_total=Decimal(1500)),
    )
    found = fire("loyalty_stage", params, person(), "2026-01-01", "2026-12-31", purchases)
    assert [(k, d) for k, d, _ in found] == [
        ("first_time_customer", "2026-01-05"),
        ("repeat_customer", "2026-02-01"),
        ("client", "2026-03-01"),
    ]


def test_a_prospect_enters_when_first_seen():
    found = fire(
        "loyalty_stage", r.LoyaltyStage(to=["prospect"]), person(), "2026-11-01", "2026-11-30"
    )
    assert [(k, d) for k, d, _ in found] == [("prospect", "2026-11-22")]


def test_an_advocate_is_made_by_a_referral_who_buys():
    referrer = person("c-1")
    referred = person("c-2", referred_by="c-1", first_name="Grace")
    purchases = bought("c-2", "2026-11-24")
    found = fire(
        "loyalty_stage",
        r.LoyaltyStage(to=["advocate"]),
        referrer,
        "2026-11-01",
        "2026-11-30",
        purchases,
        others=[referred],
    )
    assert [(k, d) for k, d, _ in found] == [("advocate", "2026-11-24")]
    assert found[0][2]["referred"]["first_name"] == "Grace"


def test_client_by_count():
    purchases = bought("c-1", "2026-01-01", "2026-01-02", "2026-01-03")
    params = r.LoyaltyStage(to=["client"], client=r.ClientThreshold(count=3))
    found = fire("loyalty_stage", params, person(), "2026-01-01", "2026-12-31", purchases)
    assert [(k, d) for k, d, _ in found] == [("client", "2026-01-03")]


def test_a_story_found_after_its_day_fires_when_found_within_max_age():
    from datetime import timedelta

    from outreach.core.model import FeedEntry, Mention

    published = NOW - timedelta(days=2)
    entry = FeedEntry("story-1", "Acme opens a plant", "https://n.test/1", published)
    contact = person(company_id="acme")
    found_late = Mention("acme", entry, "Acme opens a plant.", 0.9, found=NOW)
    subject = Subject.of(contact, dataset(contact, mentions=[found_late]), NOW)
    (occurrence,) = KINDS["news_mention"].occurrences(
        r.NewsMention(max_age="3d"), subject, DateRange(date(2026, 11, 21), date(2026, 11, 30))
    )
    assert occurrence.date == date(2026, 11, 20)  # the story's day, for templates
    assert occurrence.known_from == date(2026, 11, 22)  # due when outreach learned of it
    too_old = Mention("acme", FeedEntry("s2", "t", "l", NOW - timedelta(days=4)), "s", 0.9, NOW)
    subject = Subject.of(contact, dataset(contact, mentions=[too_old]), NOW)
    assert (
        list(
            KINDS["news_mention"].occurrences(
                r.NewsMention(max_age="3d"),
                subject,
                DateRange(date(2026, 11, 1), date(2026, 11, 30)),
            )
        )
        == []
    )
