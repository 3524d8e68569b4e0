"""A storm of 429s from SendGrid (the loopback fake, resets a second or two ahead), through
the daemon's runtime on a real store, its clock moved to each moment it would wake at: the
channel rests until the provider's reset, rows never tried wait for that only, the refused row
follows its own backoff. Times are the computed instants, never the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_sendgrid import FakeSendGrid, Limit
from helpers import make_workspace, sendgrid_channels

from outreach.adapters.store import outbox
from outreach.core.delivery import FIRST_WAIT
from outreach.core.outbox import OutboxRow
from outreach.services.runtime import Runtime

START = datetime.now(UTC)
MOMENT = START - timedelta(minutes=5)  # the notes' send time: just passed
RULE = f"""\
rules:
  - id: note
    trigger: {{birthday: {{}}}}
    action: {{email: {{template: note}}}}
    schedule: {{at: "{MOMENT:%H:%M}", late_by_at_most: 2h}}
"""
TEMPLATE = "{% block subject %}Hi {{ contact.id }}{% endblock %}{% block text %}x{% endblock %}"
KEYS = [f"note:c-{i}:{MOMENT:%Y}" for i in range(4)]


class Clock:
    """The runtime's clock: the real time at first, then wherever the test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, server: FakeSendGrid, clock: Clock) -> Iterator[Runtime]:
    people = [
        {"id": f"c-{i}", "email": f"p{i}@client.test", "birthday": f"1980-{MOMENT:%m-%d}"}
        for i in range(4)
    ]
    channels = sendgrid_channels(server.url)
    channels["email"]["concurrency"] = 1  # requests in turn: these tests follow each one
    root = make_workspace(
        tmp_path / "ws",
        config={"channels": channels},
        contacts=people,
        rules={"notes.yaml": RULE},
        templates={"note.j2": TEMPLATE},
    )
    runtime = Runtime.start(root, {"SENDGRID_API_KEY": server.api_key}, clock)
    runtime.acquire()
    assert runtime.plan().recorded == {"pending": 4}
    yield runtime
    runtime.release()


def rows(runtime: Runtime) -> dict[str, OutboxRow]:
    with runtime.store.engine.connect() as connection:
        return {row.key: row for row in outbox.rows(connection)}


def rested(runtime: Runtime, server: FakeSendGrid) -> datetime:
    """The end of the channel's rest after the last request, checked against the reset that
    request was answered with: as long as the provider asked, plus at most two seconds
    (jitter, and the whole second it ends on)."""
    last = server.requests[-1]
    asked = timedelta(seconds=int(last.answered["X-RateLimit-Reset"]) - last.at)
    with runtime.store.engine.connect() as connection:
        ((until, _),) = outbox.pauses(connection, runtime.clock()).values()
    rest = until - runtime.clock()
    assert asked - timedelta(seconds=0.5) <= rest <= asked + timedelta(seconds=2.5)
    return until


def test_after_a_429_everything_goes_once_the_reset_has_passed(
    runtime: Runtime, server: FakeSendGrid, clock: Clock
) -> None:
    server.script(Limit(1.5))
    assert runtime.dispatch().outcomes == {"failed": 1}
    until = rested(runtime, server)
    first, *others = (rows(runtime)[key] for key in KEYS)
    assert (first.status, first.attempts, first.next_attempt_at) == ("failed", 1, until)
    assert {(r.status, r.attempts, r.next_attempt_at) for r in others} == {("pending", 0, None)}
    assert runtime.next_due() == until  # the daemon's next dispatch tick

    clock.now = until
    assert runtime.dispatch().outcomes == {"sent": 4}
    assert {key: row.attempts for key, row in rows(runtime).items()} == {
        KEYS[0]: 2,
        KEYS[1]: 1,
        KEYS[2]: 1,
        KEYS[3]: 1,
    }
    assert [r.status for r in server.requests] == [429, 202, 202, 202, 202]
    assert runtime.next_due() is None


def test_in_a_storm_only_the_row_refused_twice_backs_off(
    runtime: Runtime, server: FakeSendGrid, clock: Clock
) -> None:
    server.script(Limit(1), Limit(2), Limit(1))
    rests, passes = [], []  # (when, until) of each rest; (when, requests) of each pass
    while (wake := runtime.next_due()) is not None or not passes:
        clock.now, before = wake or clock.now, len(server.requests)
        runtime.dispatch()
        passes.append((clock.now, len(server.requests) - before))
        if server.requests[-1].status == 429:
            rests.append((clock.now, rested(runtime, server)))
    assert set(server.accepted_keys()) == set(KEYS) and max(server.accepted_keys().values()) == 1
    done = rows(runtime)
    assert {row.status for row in done.values()} == {"sent"}
    requests = [r.body["custom_args"]["outreach_key"] for r in server.requests]
    assert requests == [KEYS[0], KEYS[0], KEYS[1], KEYS[1], KEYS[2], KEYS[3], KEYS[0]]
    assert [done[key].attempts for key in KEYS] == [3, 2, 1, 1]
    # Each rest's end is the next pass: the rows never refused go at the third one's end...
    assert [when for when, _ in passes[1:4]] == [until for _, until in rests]
    assert [count for _, count in passes] == [1, 1, 1, 3, 1]
    # ... and the first row, refused twice, came back after its own backoff (in whole seconds,
    # as stored), not at a reset.
    assert passes[-1][0] - rests[1][0] >= FIRST_WAIT / 2 - timedelta(seconds=1)
