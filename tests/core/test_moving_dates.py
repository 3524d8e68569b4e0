"""Demo data whose dates move with the clock (`data_dated_for`): a pure function of the data
and a number of days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from outreach.core.model import Birthday, Contact, Dataset, FeedEntry, Mention, Purchase
from outreach.core.moving_dates import days_to_move, moved_data


def _contact(birthday: Birthday | None = None, **dates: date) -> Contact:
    fields = {"id": "c-1", "birthday": "", "customer_since": "", "renewal_date": ""}
    if birthday is not None:
        year = f"{birthday.year:04d}-" if birthday.year else ""
        fields["birthday"] = f"{year}{birthday.month:02d}-{birthday.day:02d}"
    since = dates.pop("customer_since", None)
    fields.update({k: v.isoformat() for k, v in dates.items()})
    if since:
        fields["customer_since"] = since.isoformat()
    return Contact(
        "c-1",
        MappingProxyType(fields),
        line=2,
        birthday=birthday,
        customer_since=since,
        dates=MappingProxyType(dates),
    )


def _moved_contact(contact: Contact, days: int) -> Contact:
    data, unmoved = moved_data(Dataset.build({"c-1": contact}), days)
    assert unmoved == []
    return data.contacts["c-1"]


def test_days_to_move_counts_from_today_in_the_workspace_zone() -> None:
    late_evening_utc = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already 2 Dec in Auckland
    assert days_to_move(date(2026, 11, 22), late_evening_utc, ZoneInfo("UTC")) == 9
    assert days_to_move(date(2026, 11, 22), late_evening_utc, ZoneInfo("Pacific/Auckland")) == 10
    assert days_to_move(date(2026, 11, 22), datetime(2026, 11, 1, tzinfo=UTC), UTC) == -21


def test_every_date_cell_of_a_contact_moves_and_its_text_with_it() -> None:
    contact = _contact(
        Birthday(11, 28, 1991),
        customer_since=date(2020, 12, 3),
        renewal_date=date(2026, 12, 24),
    )
    moved = _moved_contact(contact, 40)
    assert moved.birthday == Birthday(1, 7, 1992)
    assert moved.customer_since == date(2021, 1, 12)
    assert moved.dates["renewal_date"] == date(2027, 2, 2)
    assert moved.fields["birthday"] == "1992-01-07"  # what templates and `when:` read
    assert moved.fields["customer_since"] == "2021-01-12"
    assert moved.fields["renewal_date"] == "2027-02-02"


@pytest.mark.parametrize(
    ("written", "days", "expected"),
    [
        (Birthday(12, 3), 40, Birthday(1, 12)),  # round the year end, still without a year
        (Birthday(2, 28), 1, Birthday(2, 29)),  # 29 February is a day like the others
        (Birthday(2, 29), 1, Birthday(3, 1)),
        (Birthday(3, 1), -1, Birthday(2, 29)),
        (Birthday(5, 15), 366 * 3, Birthday(5, 15)),  # round the (leap) year
        (Birthday(5, 15), -400, Birthday(4, 11)),  # -400 = -366 - 34
    ],
)
def test_a_birthday_without_a_year_goes_round_a_leap_year(
    written: Birthday, days: int, expected: Birthday
) -> None:
    moved = _moved_contact(_contact(written), days)
    assert moved.birthday == expected
    assert moved.birthday is not None and moved.birthday.year is None
    assert moved.fields["birthday"] == f"{expected.month:02d}-{expected.day:02d}"


def test_a_feb_29_birthday_with_a_year_moves_as_a_date() -> None:
    assert _moved_contact(_contact(Birthday(2, 29, 1988)), 464).birthday == Birthday(6, 7, 1989)
    assert _moved_contact(_contact(Birthday(2, 20, 1988)), 9).birthday == Birthday(2, 29, 1988)


def test_a_date_moved_out_of_the_accepted_years_is_a_bad_cell_not_an_exception() -> None:
    contact = _contact(
        Birthday(12, 30, 2999),
        customer_since=date(2999, 12, 1),
        renewal_date=date(1800, 1, 5),
    )
    data, unmoved = moved_data(Dataset.build({"c-1": contact}), 45)
    moved = data.contacts["c-1"]
    assert moved.birthday is None and moved.customer_since is None
    assert moved.dates["renewal_date"] == date(1800, 2, 19)  # this one still fits
    assert {(u.column, u.value, u.line) for u in unmoved} == {
        ("birthday", date(2999, 12, 30), 2),
        ("customer_since", date(2999, 12, 1), 2),
    }
    _, unmoved = moved_data(Dataset.build({"c-1": contact}), -10)
    assert [(u.column, u.value) for u in unmoved] == [("renewal_date", date(1800, 1, 5))]
    _, unmoved = moved_data(Dataset.build({"c-1": contact}), 10**6)  # past the year 9999
    assert len(unmoved) == 3


def test_purchases_move_and_one_moved_out_of_range_is_left_out() -> None:
    contacts = {"c-1": _contact()}
    purchases = [
        Purchase("p-1", "c-1", date(2026, 11, 20), Decimal(10), "EUR", "x"),
        Purchase("p-2", "c-1", date(2999, 12, 28), Decimal(10), "EUR", "x"),
    ]
    data, unmoved = moved_data(Dataset.build(contacts, purchases=purchases), 9)
    assert [(p.id, p.date) for p in data.purchases["c-1"]] == [("p-1", date(2026, 11, 29))]
    assert [(u.what, u.id, u.column) for u in unmoved] == [("purchase", "p-2", "date")]


def test_only_stories_of_the_workspaces_own_feed_files_move() -> None:
    published = datetime(2026, 11, 20, 8, tzinfo=UTC)
    story = FeedEntry("e-1", "t", "https://x.test/1", published)
    from_file = Mention("acme", story, "s", 0.9, moves=True)
    stored = Mention("acme", FeedEntry("e-2", "t", "https://x.test/2", published), "s", 0.9)
    undated = Mention("acme", FeedEntry("e-3", "t", "", None), "s", 0.9, moves=True)
    data = Dataset.build({"c-1": _contact()}, mentions=[from_file, stored, undated])
    moved, _ = moved_data(data, 9)
    dates = {m.entry.id: m.entry.published for m in moved.mentions["acme"]}
    assert dates == {"e-1": datetime(2026, 11, 29, 8, tzinfo=UTC), "e-2": published, "e-3": None}


def test_nothing_moves_by_zero_days_and_suppressions_stay() -> None:
    data = Dataset.build({"c-1": _contact(Birthday(1, 2, 1990))}, suppressed_emails=["a@x.test"])
    assert moved_data(data, 0) == (data, [])
    moved, _ = moved_data(data, 5)
    assert moved.do_not_write == data.do_not_write
