from datetime import date, time, timedelta

import pytest

from outreach.core.timing import (
    QuietHours,
    format_duration,
    month_day,
    parse_clock,
    parse_duration,
    wall_clock,
    zone,
)


@pytest.mark.parametrize(
    ("year", "policy", "expected"),
    [
        (2028, "feb28", date(2028, 2, 29)),
        (2028, "mar1", date(2028, 2, 29)),
        (2028, "skip", date(2028, 2, 29)),
        (2027, "feb28", date(2027, 2, 28)),
        (2027, "mar1", date(2027, 3, 1)),
        (2027, "skip", None),
    ],
)
def test_feb29_policy(year, policy, expected):
    assert month_day(year, 2, 29, policy) == expected


@pytest.mark.parametrize(
    ("day", "tz", "expected"),
    [
        (date(2027, 2, 28), "Pacific/Auckland", "2027-02-28T09:00:00+13:00"),
        (date(2027, 7, 1), "Pacific/Auckland", "2027-07-01T09:00:00+12:00"),
        (date(2027, 3, 13), "America/New_York", "2027-03-13T09:00:00-05:00"),
        (date(2027, 3, 14), "America/New_York", "2027-03-14T09:00:00-04:00"),
        (date(2026, 11, 1), "America/New_York", "2026-11-01T09:00:00-05:00"),
        (date(2026, 12, 24), "Asia/Kathmandu", "2026-12-24T09:00:00+05:45"),
        (date(2026, 12, 24), "Atlantic/Reykjavik", "2026-12-24T09:00:00+00:00"),
    ],
)
def test_wall_clock_is_local_time_with_dst(day, tz, expected):
    assert wall_clock(day, time(9), zone(tz)).isoformat() == expected


def test_a_time_skipped_by_dst_moves_forward():
    moment = wall_clock(date(2027, 3, 14), time(2, 30), zone("America/New_York"))
    assert moment.isoformat() == "2027-03-14T03:30:00-04:00"


def test_a_time_that_happens_twice_takes_the_first():
    moment = wall_clock(date(2026, 11, 1), time(1, 30), zone("America/New_York"))
    assert moment.isoformat() == "2026-11-01T01:30:00-04:00"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-12-01T21:30:00", "2026-12-02T08:00:00+00:00"),
        ("2026-12-01T03:00:00", "2026-12-01T08:00:00+00:00"),
        ("2026-12-01T08:00:00", "2026-12-01T08:00:00+00:00"),
        ("2026-12-01T19:59:00", "2026-12-01T19:59:00+00:00"),
        ("2026-12-01T20:00:00", "2026-12-02T08:00:00+00:00"),
    ],
)
def test_quiet_hours_spanning_midnight(local, expected):
    from datetime import datetime

    quiet = QuietHours(time(20), time(8))
    moment = datetime.fromisoformat(local).replace(tzinfo=zone("Europe/London"))
    assert quiet.defer(moment).isoformat() == expected


def test_quiet_hours_within_a_day():
    from datetime import datetime

    quiet = QuietHours(time(12), time(13, 30))
    moment = datetime(2026, 12, 1, 12, 15, tzinfo=zone("Asia/Kathmandu"))
    assert quiet.defer(moment).isoformat() == "2026-12-01T13:30:00+05:45"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2d", timedelta(days=2)),
        ("36h", timedelta(hours=36)),
        ("30m", timedelta(minutes=30)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_durations_round_trip(text, value):
    assert parse_duration(text) == value
    assert format_duration(value) == text if text != "1w" else format_duration(value) == "1w"


@pytest.mark.parametrize("text", ["2", "d", "2 days", "-1d", "1.5d"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="30m, 12h, 2d"):
        parse_duration(text)


def test_clock_times():
    assert parse_clock("09:00") == time(9)
    assert parse_clock("9:05") == time(9, 5)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("24:00")


def test_zone_names_resolve_by_city_when_the_region_is_wrong():
    assert zone("Europe/Reykjavik").key == "Atlantic/Reykjavik"
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Mars/Olympus_Mons")


def test_quiet_hours_never_move_a_send_earlier_in_the_repeated_hour():
    from datetime import datetime

    quiet = QuietHours(time(2), time(2, 45))
    tz = zone("Europe/Berlin")
    # 02:30 CET on 2026-10-25 is the second 02:30 of that night (after clocks went back)
    moment = datetime(2026, 10, 25, 2, 30, tzinfo=tz, fold=1)
    deferred = quiet.defer(moment)
    assert deferred.timestamp() >= moment.timestamp()
    assert deferred.isoformat() == "2026-10-25T02:45:00+01:00"
