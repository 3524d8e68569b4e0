"""The plan end to end in memory: timing, time zones, locales and every policy status."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from outreach.core.model import FeedEntry, Mention, Purchase, Status
from outreach.core.planning import Engine
from outreach.core.policies import History

from .factory import at, bought, dataset, engine, person, plan, rule, sends

NOTE = {"email": {"template": "note"}}


@pytest.mark.parametrize(
    ("policy", "now", "expected"),
    [
        ("feb28", "2027-02-20T00:00:00+00:00", [("r:c-1:2027", "2027-02-28T09:00:00+13:00")]),
        ("mar1", "2027-02-20T00:00:00+00:00", [("r:c-1:2027", "2027-03-01T09:00:00+13:00")]),
        ("skip", "2027-02-20T00:00:00+00:00", []),
        ("skip", "2028-02-20T00:00:00+00:00", [("r:c-1:2028", "2028-02-29T09:00:00+13:00")]),
        ("feb28", "2028-02-20T00:00:00+00:00", [("r:c-1:2028", "2028-02-29T09:00:00+13:00")]),
    ],
)
def test_feb29_birthdays_in_auckland(policy, now, expected):
    eng = engine(rule(trigger={"birthday": {"feb29": policy}}))
    data = dataset(person(birthday="1992-02-29", tz="Pacific/Auckland"))
    assert [(k, t) for k, t, *_ in sends(plan(eng, data, now))] == expected


def test_lead_days_across_new_year():
    eng = engine(rule(trigger={"birthday": {"lead_days": 3}}))
    data = dataset(person(birthday="1980-01-02", tz="America/New_York"))
    (row,) = sends(plan(eng, data, "2026-12-25T00:00:00+00:00"))
    assert row[:2] == ("r:c-1:2027", "2026-12-30T09:00:00-05:00")


@pytest.mark.parametrize(
    ("tz", "birthday", "now", "expected"),
    [
        (
            "Pacific/Auckland",
            "1980-12-02",
            "2026-11-25T00:00:00+00:00",
            "2026-12-02T09:00:00+13:00",
        ),
        ("Asia/Kathmandu", "1980-12-02", "2026-11-25T00:00:00+00:00", "2026-12-02T09:00:00+05:45"),
        # the day DST ends in New York, and the day before
        (
            "America/New_York",
            "1980-11-01",
            "2026-10-25T00:00:00+00:00",
            "2026-11-01T09:00:00-05:00",
        ),
        (
            "America/New_York",
            "1980-10-31",
            "2026-10-25T00:00:00+00:00",
            "2026-10-31T09:00:00-04:00",
        ),
    ],
)
def test_each_client_gets_the_note_at_nine_their_time(tz, birthday, now, expected):
    eng = engine(rule())
    (row,) = sends(plan(eng, dataset(person(birthday=birthday, tz=tz)), now))
    assert row[1:3] == (expected, "planned")


def test_new_york_dst_start():
    eng = engine(rule())
    data = dataset(
        person("c-1", birthday="1970-03-13", tz="America/New_York"),
        person("c-2", birthday="1970-03-14", tz="America/New_York"),
    )
    rows = sends(plan(eng, data, "2027-03-10T00:00:00+00:00"))
    assert [(k, t) for k, t, *_ in rows] == [
        ("r:c-1:2027", "2027-03-13T09:00:00-05:00"),
        ("r:c-2:2027", "2027-03-14T09:00:00-04:00"),
    ]


def test_contacts_without_a_zone_use_the_workspace_zone():
    eng = engine(rule(), config={"timezone": "Europe/Reykjavik"})
    (row,) = sends(plan(eng, dataset(person(birthday="1980-12-02")), "2026-11-25T00:00:00+00:00"))
    assert row[1] == "2026-12-02T09:00:00+00:00"


def test_a_purchase_crossing_a_milestone_fires_that_day():
    eng = engine(
        rule(
            "tenth",
            trigger={"purchase_milestone": {"count": [10]}},
            schedule={"at": "10:00", "late_by_at_most": "2d"},
        ),
        rule("big", trigger={"purchase_milestone": {"single_amount_over": 5000}}),
    )
    purchases = bought("c-1", *[f"2026-0{m}-01" for m in range(1, 10)], "2026-11-24")
    purchases += bought("c-2", "2026-11-23", amount="6000")
    data = dataset(person("c-1", tz="Europe/Kyiv"), person("c-2"), purchases=purchases)
    rows = sends(plan(eng, data, "2026-11-22T12:00:00+00:00"))
    assert [(k, t, s) for k, t, s, _ in rows] == [
        ("big:c-2:purchase-c-2-p1", "2026-11-23T09:00:00+00:00", "planned"),
        ("tenth:c-1:count-10", "2026-11-24T10:00:00+02:00", "planned"),
    ]


def test_a_milestone_crossed_a_few_hours_ago_is_sent_at_once():
    eng = engine(rule(trigger={"purchase_milestone": {"count": [1]}}))
    data = dataset(person(), purchases=bought("c-1", "2026-11-22"))
    (row,) = sends(plan(eng, data, "2026-11-22T15:20:45+00:00"))
    assert row[1:3] == ("2026-11-22T15:20:45+00:00", "planned")


LOCALIZED = {
    "note.j2": "{% block subject %}Hello{% endblock %}{% block text %}en{% endblock %}",
    "note.is.j2": "{% block subject %}Halló{% endblock %}{% block text %}is{% endblock %}",
    "note.hu.j2": "{% block subject %}Szia{% endblock %}{% block text %}hu{% endblock %}",
    "note.en-GB.j2": "{% block subject %}Hello, mate{% endblock %}{% block text %}gb{% endblock %}",
}


@pytest.mark.parametrize(
    ("locale", "workspace_locale", "expected"),
    [
        ("is", "en", "Halló"),
        ("is-IS", "en", "Halló"),  # is-IS -> is
        ("en-GB", "en", "Hello, mate"),
        ("uk", "en", "Hello"),  # no uk variant -> workspace en -> base
        ("uk", "hu", "Szia"),  # no uk variant -> workspace locale hu
        (None, "is", "Halló"),  # no locale -> workspace locale
        ("hy", "et", "Hello"),  # neither -> base file
    ],
)
def test_locale_fallback(locale, workspace_locale, expected):
    eng = engine(rule(), templates=LOCALIZED, config={"locale": workspace_locale})
    data = dataset(person(birthday="1980-12-02", locale=locale))
    (decision,) = plan(eng, data, "2026-11-25T00:00:00+00:00")
    assert decision.message is not None
    assert decision.message.subject == expected


def test_frequency_cap_keeps_higher_priority_then_earlier():
    eng = engine(
        rule("low", priority=1),
        rule("high", trigger={"anniversary": {}}, priority=9),
        rule("mid", trigger={"date": {"field": "renewal"}}, priority=5),
        rule("todo", trigger={"date": {"field": "renewal"}}, action={"task": {"template": "note"}}),
        config={"policies": {"max_per_contact": {"count": 2, "days": 7}}},
    )
    contact = person(birthday="1980-12-01", customer_since="2020-12-03", renewal="2026-12-05")
    rows = sends(plan(eng, dataset(contact), "2026-11-25T00:00:00+00:00"))
    statuses = {k.split(":")[0]: s for k, _, s, _ in rows}
    assert statuses == {"low": "capped", "high": "planned", "mid": "planned", "todo": "planned"}
    reason = next(r for k, _, s, r in rows if s == "capped")
    assert "at most 2 per 7 days" in reason and "high" in reason


def test_frequency_cap_is_a_rolling_window():
    eng = engine(
        rule("a", priority=1),
        rule("b", trigger={"date": {"field": "renewal"}}, priority=1),
        config={"policies": {"max_per_contact": {"count": 1, "days": 7}}},
    )
    # 7 days apart: each in its own window
    contact = person(birthday="1980-12-01", renewal="2026-12-08")
    rows = sends(plan(eng, dataset(contact), "2026-11-25T00:00:00+00:00", days=20))
    assert [s for *_, s, _ in rows] == ["planned", "planned"]


def test_equal_priority_keeps_the_earlier():
    eng = engine(
        rule("a"),
        rule("b", trigger={"date": {"field": "renewal"}}),
        config={"policies": {"max_per_contact": {"count": 1, "days": 7}}},
    )
    contact = person(birthday="1980-12-03", renewal="2026-12-01")
    rows = sends(plan(eng, dataset(contact), "2026-11-25T00:00:00+00:00"))
    assert [(k.split(":")[0], s) for k, _, s, _ in rows] == [("b", "planned"), ("a", "capped")]


def test_history_counts_against_the_cap_and_recorded_keys_are_not_planned_again():
    eng = engine(
        rule("a"),
        rule("b", trigger={"date": {"field": "renewal"}}),
        config={"policies": {"max_per_contact": {"count": 1, "days": 7}}},
    )
    contact = person(birthday="1980-12-03", renewal="2026-12-01")
    history = History(
        recorded=frozenset({"b:c-1:2026-12-01"}), sends={"c-1": (at("2026-12-01T09:00:00+00:00"),)}
    )
    now = at("2026-11-25T00:00:00+00:00")
    rows = sends(eng.plan(dataset(contact), now, now + timedelta(days=14), history))
    assert [(k, s) for k, _, s, _ in rows] == [("a:c-1:2026", "capped")]


def test_quiet_hours_move_a_send_to_their_end():
    eng = engine(
        rule(schedule={"at": "21:30"}),
        config={"policies": {"quiet_hours": {"start": "20:00", "end": "08:00"}}},
    )
    data = dataset(person(birthday="1980-12-02", tz="Asia/Kathmandu"))
    (row,) = sends(plan(eng, data, "2026-11-25T00:00:00+00:00"))
    assert row[1] == "2026-12-03T08:00:00+05:45"


def test_catching_up_inside_quiet_hours_waits_for_morning():
    eng = engine(
        rule(schedule={"late_by_at_most": "2d"}),
        config={"policies": {"quiet_hours": {"start": "20:00", "end": "08:00"}}},
    )
    data = dataset(person(birthday="1980-12-02", tz="Europe/London"))
    (row,) = sends(plan(eng, data, "2026-12-02T22:00:00+00:00"))
    assert row[1:3] == ("2026-12-03T08:00:00+00:00", "planned")


@pytest.mark.parametrize(
    ("now", "status", "send_at"),
    [
        ("2026-12-02T08:59:00+00:00", "planned", "2026-12-02T09:00:00+00:00"),
        ("2026-12-02T20:00:00+00:00", "planned", "2026-12-02T20:00:00+00:00"),  # due at once
        ("2026-12-03T09:00:00+00:00", "planned", "2026-12-03T09:00:00+00:00"),  # exactly 1d
        ("2026-12-03T09:01:00+00:00", "late", "2026-12-02T09:00:00+00:00"),
        ("2026-12-08T00:00:00+00:00", "late", "2026-12-02T09:00:00+00:00"),
    ],
)
def test_catch_up_window(now, status, send_at):
    eng = engine(rule())
    (row,) = sends(plan(eng, dataset(person(birthday="1980-12-02")), now))
    assert row[1:3] == (send_at, status)


def test_occasions_long_gone_are_not_listed():
    eng = engine(rule())
    assert plan(eng, dataset(person(birthday="1980-11-01")), "2026-11-25T00:00:00+00:00") == []


def test_opted_out_and_suppressed_contacts_are_never_written_to():
    eng = engine(rule())
    data = dataset(
        person("c-1", birthday="1980-12-01", opted_out=True),
        person("c-2", birthday="1980-12-01", email="Stop@Example.com"),
        person("c-3", birthday="1980-12-01", email="ok@example.com"),
        suppressed_emails=["stop@example.com"],
    )
    rows = sends(plan(eng, data, "2026-11-25T00:00:00+00:00"))
    assert [(k, s, r) for k, _, s, r in rows] == [
        ("r:c-1:2026", "suppressed", "opted out"),
        ("r:c-2:2026", "suppressed", "Stop@Example.com is on the suppression list"),
        ("r:c-3:2026", "planned", "Hi Ada"),
    ]
    assert [d.message for d in plan(eng, data, "2026-11-25T00:00:00+00:00")][:2] == [None, None]


def test_approval_and_gift_defaults():
    eng = engine(
        rule("asked", approval="required"),
        rule("gift", action={"gift": {"item": "Pencil", "card": "note", "ship_days": 5}}),
        rule("free-gift", action={"gift": {"item": "Pencil"}}, approval="auto"),
    )
    data = dataset(person(birthday="1980-12-10"))
    decisions = plan(eng, data, "2026-11-25T00:00:00+00:00", days=20)
    rows = {k.split(":")[0]: (t, s) for k, t, s, _ in sends(decisions)}
    assert rows == {
        "asked": ("2026-12-10T09:00:00+00:00", "needs_approval"),
        "gift": ("2026-12-05T09:00:00+00:00", "needs_approval"),  # ship_days before
        "free-gift": ("2026-12-10T09:00:00+00:00", "planned"),
    }


def test_gift_for_a_purchase_cannot_ship_before_the_purchase():
    eng = engine(
        rule(
            trigger={"purchase_milestone": {"count": [1]}},
            action={"gift": {"item": "Pencil", "ship_days": 5}},
        )
    )
    data = dataset(person(), purchases=bought("c-1", "2026-11-30"))
    (decision,) = plan(eng, data, "2026-11-25T00:00:00+00:00")
    assert decision.send_at.isoformat() == "2026-11-30T09:00:00+00:00"
    assert decision.details["ship_by"] == "2026-11-30"
    assert decision.details["item"] == "Pencil"


def test_when_false_is_not_listed_and_a_failing_when_is_an_error():
    eng = engine(
        rule("gold", when="contact.tier == 'gold'"), rule("typo", when="contact.tierr == 'gold'")
    )
    data = dataset(person(birthday="1980-12-01", tier="silver"))
    rows = sends(plan(eng, data, "2026-11-25T00:00:00+00:00"))
    assert [(k, s) for k, _, s, _ in rows] == [("typo:c-1:2026", "error")]
    assert "tierr" in rows[0][3]


def test_a_template_error_fails_that_message_only():
    templates = {
        "note.j2": "{% block subject %}Hi{% endblock %}{% block text %}ok{% endblock %}",
        "bad.j2": "{% block subject %}{{ contact.nickname }}{% endblock %}",
    }
    eng = engine(
        rule("ok"), rule("bad", action={"email": {"template": "bad"}}), templates=templates
    )
    rows = sends(plan(eng, dataset(person(birthday="1980-12-01")), "2026-11-25T00:00:00+00:00"))
    assert [(k, s) for k, _, s, _ in rows] == [
        ("bad:c-1:2026", "error"),
        ("ok:c-1:2026", "planned"),
    ]
    assert rows[0][3].startswith("templates/bad.j2:1: undefined")


def test_email_to_a_contact_without_address_is_an_error():
    eng = engine(rule())
    (row,) = sends(
        plan(eng, dataset(person(birthday="1980-12-01", email=None)), "2026-11-25T00:00:00+00:00")
    )
    assert row[2:] == ("error", "the contact has no email address")


def test_personal_notes_come_from_and_reply_to_the_owner():
    eng = engine(
        rule(action={"email": {"template": "note", "from": "owner"}}),
        config={"owners": {"anna@acme.test": {"name": "Anna Jónsdóttir"}}},
    )
    (decision,) = plan(
        eng,
        dataset(person(birthday="1980-12-01", owner="anna@acme.test")),
        "2026-11-25T00:00:00+00:00",
    )
    assert decision.details == {
        "to": "client@example.com",
        "to_name": "Ada L",
        "from": "Anna Jónsdóttir <anna@acme.test>",
        "reply_to": "anna@acme.test",
    }


def test_order_is_send_at_then_rule_then_contact():
    eng = engine(rule("b"), rule("a"))
    data = dataset(
        person("c-2", birthday="1980-12-01"),
        person("c-1", birthday="1980-12-01"),
        person("c-0", birthday="1980-12-01", tz="Asia/Kathmandu"),
    )
    keys = [d.key for d in plan(eng, data, "2026-11-25T00:00:00+00:00")]
    assert keys == [
        "a:c-0:2026",
        "b:c-0:2026",
        "a:c-1:2026",
        "a:c-2:2026",
        "b:c-1:2026",
        "b:c-2:2026",
    ]


def test_planning_is_deterministic():
    eng = engine(rule(), rule("m", trigger={"purchase_milestone": {"count": [1, 2]}}))
    data = dataset(
        person(birthday="1980-12-01"), purchases=bought("c-1", "2026-11-26", "2026-11-27")
    )
    first = plan(eng, data, "2026-11-25T00:00:00+00:00")
    assert first == plan(eng, data, "2026-11-25T00:00:00+00:00")
    assert len(first) == 3


def test_statuses_cover_every_kind():
    assert {s.value for s in Status} == {
        "planned",
        "needs_approval",
        "suppressed",
        "capped",
        "late",
        "error",
    }


def test_the_cap_window_is_real_hours_across_a_dst_change():
    # Berlin springs forward on 2026-03-29: 09:00+01:00 to 09:30+02:00 is 23.5 real hours.
    eng = engine(
        rule("a", trigger={"birthday": {}}, priority=5),
        rule("b", trigger={"date": {"field": "renewal"}}, schedule={"at": "09:30"}),
        config={"policies": {"max_per_contact": {"count": 1, "days": 1}}},
    )
    contact = person(birthday="1980-03-28", renewal="2026-03-29", tz="Europe/Berlin")
    rows = sends(plan(eng, dataset(contact), "2026-03-27T00:00:00+00:00"))
    assert [(k.split(":")[0], t, s) for k, t, s, _ in rows] == [
        ("a", "2026-03-28T09:00:00+01:00", "planned"),
        ("b", "2026-03-29T09:30:00+02:00", "capped"),
    ]


def test_opt_out_and_late_come_before_a_failing_when():
    eng = engine(rule(when="company.name == 'Acme'"))
    data = dataset(
        person("c-1", birthday="1980-12-01", opted_out=True),
        person("c-2", birthday="1980-11-20"),
        person("c-3", birthday="1980-12-01"),
    )
    rows = sends(plan(eng, data, "2026-11-25T00:00:00+00:00"))
    assert [(k, s) for k, _, s, _ in rows] == [
        ("r:c-2:2026", "late"),
        ("r:c-1:2026", "suppressed"),
        ("r:c-3:2026", "error"),
    ]


def test_a_name_column_is_kept_for_templates():
    from outreach.core.views import contact_view

    contact = person(first_name="", last_name="", name="Anna Jónsdóttir")
    assert contact_view(contact, "UTC", "en")["name"] == "Anna Jónsdóttir"
    assert contact.name == "Anna Jónsdóttir"


def test_gifts_need_an_address_and_tasks_someone_to_do_them():
    eng = engine(
        rule("gift", action={"gift": {"item": "Pencil"}}),
        rule("todo", action={"task": {"template": "note"}}),
    )
    contact = person(birthday="1980-12-01", owner="", address_line1="", city="")
    rows = {
        k.split(":")[0]: (s, r)
        for k, _, s, r in sends(plan(eng, dataset(contact), "2026-11-25T00:00:00+00:00"))
    }
    assert rows["gift"] == (
        "error",
        "no shipping address (address_line1 and city are needed for a gift)",
    )
    assert rows["todo"][0] == "error" and "no owner" in rows["todo"][1]


def test_explain_shows_the_next_occasion_not_a_missed_one():
    from outreach.core.explaining import explain

    eng = engine(rule())
    data = dataset(person(birthday="1980-03-10"))
    (found,) = explain(eng, data, "c-1", at("2026-03-14T00:00:00+00:00"))
    assert found.fires
    assert "next occasion 2027-03-10" in found.steps[1].text


def test_lifetime_total_alone_makes_a_client():
    from decimal import Decimal

    from outreach.core.rules import ClientThreshold, LoyaltyStage

    params = LoyaltyStage.model_validate({"to": ["client"], "client": {"lifetime_total": 1000}})
    assert params.client == ClientThreshold(count=None, lifetime_total=Decimal(1000))
    assert LoyaltyStage(to=["client"]).client.count == 5


def test_milestone_keys_do_not_depend_on_how_the_number_is_written():
    purchases = bought("c-1", "2026-11-26", amount="1000")
    keys = {
        d.key
        for written in ("1000", "1000.0", "1E+3")
        for d in plan(
            engine(rule(trigger={"purchase_milestone": {"lifetime_total": [written]}})),
            dataset(person(), purchases=purchases),
            "2026-11-25T00:00:00+00:00",
        )
    }
    assert keys == {"r:c-1:total-1000"}


# Isolation: whatever the data holds fails one occurrence, never the plan ------------------


def test_a_value_that_breaks_a_trigger_is_that_contacts_error_and_the_rest_is_planned():
    eng = engine(
        rule("quiet", trigger={"inactivity": {"days": 30}}),
        rule("bday", trigger={"birthday": {}}),
    )
    broken = Purchase("p-x", "c-x", date(9999, 12, 31), Decimal(1), "EUR", "Van")  # unloaded
    data = dataset(
        person("c-x", birthday="1980-12-01"),
        person("c-ok", birthday="1980-12-01"),
        purchases=[broken, *bought("c-ok", "2026-11-01")],
    )

    decisions = {d.key: d for d in plan(eng, data, "2026-11-30T08:00:00+00:00")}

    failed = decisions["quiet:c-x:trigger-failed"]
    assert failed.status is Status.ERROR and "OverflowError" in (failed.reason or "")
    assert decisions["quiet:c-ok:after-2026-11-01"].status is Status.PLANNED
    assert decisions["bday:c-x:2026"].status is Status.PLANNED, "its other rules still plan"


def test_a_surprise_in_one_occurrence_is_that_occurrences_error(monkeypatch):
    eng = engine(rule("bday"))
    data = dataset(person("c-1", birthday="1980-12-01"), person("c-2", birthday="1980-12-01"))
    real = Engine.decide

    def decide(self, candidate, verdict=True):
        if candidate.contact.id == "c-1":
            raise ArithmeticError("boom")
        return real(self, candidate, verdict)

    monkeypatch.setattr(Engine, "decide", decide)
    decisions = {d.key: d for d in plan(eng, data, "2026-11-30T08:00:00+00:00")}
    assert decisions["bday:c-1:2026"].status is Status.ERROR
    assert "ArithmeticError: boom" in (decisions["bday:c-1:2026"].reason or "")
    assert decisions["bday:c-2:2026"].status is Status.PLANNED


def test_a_news_story_dated_in_the_year_9999_counts_from_when_it_was_found():
    eng = engine(rule("news", trigger={"news_mention": {"min_confidence": 0.5}}))
    far = datetime(9999, 12, 31, tzinfo=UTC)
    story = FeedEntry("e-1", "Acme opens a plant", "https://n.test/1", far)
    found = datetime(2026, 11, 30, 7, tzinfo=UTC)
    data = dataset(
        person("c-1", company_id="acme", tz="Pacific/Kiritimati"),
        mentions=[Mention("acme", story, "Acme opens a plant.", 0.9, found)],
    )
    (decision,) = plan(eng, data, "2026-11-30T08:00:00+00:00")
    assert decision.status is Status.PLANNED
    assert decision.occasion["entry"]["published"] is None


def test_each_planning_pass_gives_a_runaway_condition_its_allowance_again():
    """A `when:` that lost its allowance of time to its limits in one pass (see
    outreach.core.limits.Losses) is evaluated afresh in the next: planning never stops
    trying a rule for good because of one slow pass."""
    eng = engine(rule("bday", when="contact.id == 'c-1'"))
    eng.conditions["bday"].losses.seconds = 3600  # spent, as if by a runaway pass
    (decision,) = plan(eng, dataset(person("c-1", birthday="1980-12-01")), "2026-11-30T08:00:00Z")
    assert decision.status is Status.PLANNED
