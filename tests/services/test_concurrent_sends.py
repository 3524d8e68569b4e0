"""Concurrent sends: each channel has up to its `concurrency` sends under way at once, with
the guarantees of one at a time (claimed before the request, each row once), a rate limit
resting the whole channel, and dispatchers sharing a PostgreSQL store never waiting on each
other."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_sendgrid import FakeSendGrid
from helpers import BIRTHDAY_RULE, BIRTHDAY_TEMPLATE, make_workspace, sendgrid_channels
from sqlalchemy import text

from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.clock import fixed_clock
from outreach.core.config import Config
from outreach.core.delivery import Delivery
from outreach.services.channels import ChannelSet
from outreach.services.dispatch import Dispatcher, RunReport, record_plan
from outreach.services.workspace import Workspace, load_workspace

NOW = datetime(2026, 6, 10, 10, tzinfo=UTC)  # an hour after the 09:00 birthday notes


def people(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"c-{i:03d}",
            "first_name": f"P{i}",
            "email": f"p{i}@example.test",
            "birthday": "1980-06-10",
        }
        for i in range(count)
    ]


def workspace(root: Path, server_url: str, count: int, at_once: int, store: str) -> Workspace:
    channels = sendgrid_channels(server_url)
    channels["email"]["concurrency"] = at_once
    made = make_workspace(
        root,
        config={"channels": channels, "store": store},
        contacts=people(count),
        rules={"notes.yaml": BIRTHDAY_RULE},
        templates={"birthday.j2": BIRTHDAY_TEMPLATE},
    )
    loaded = load_workspace(made)
    record_plan(loaded, opened(loaded), NOW)
    return loaded


def opened(loaded: Workspace) -> Store:
    store = Store.open(loaded.config.store, loaded.root)
    assert store is not None
    return store


def dispatcher(
    loaded: Workspace,
    key: str,
    overrides: dict[str, Any] | None = None,
    worker: Worker | None = None,
) -> Dispatcher:
    channels = ChannelSet(loaded.config, loaded.root, {"SENDGRID_API_KEY": key}, overrides)
    found = Dispatcher(
        opened(loaded), channels, loaded.data, loaded.config, fixed_clock(NOW), RunReport()
    )
    if worker is not None:
        found.worker = worker
    return found


def statuses(loaded: Workspace) -> dict[str, str]:
    with opened(loaded).engine.connect() as connection:
        return {row.key: row.status for row in outbox.rows(connection)}


def most_at_once(arrivals: list[float], latency: float) -> int:
    """The most requests that arrived within one answer's latency of each other: a send
    starts only when another has ended, so this is at least the sends under way at once."""
    ordered = sorted(arrivals)
    return max(sum(1 for b in ordered if a <= b < a + latency) for a in ordered)


def test_eight_sends_at_once_each_row_once(tmp_path: Path, store_url: str) -> None:
    with FakeSendGrid(validate=False) as server:
        server.latency = 0.2
        loaded = workspace(tmp_path / "ws", server.url, 40, 8, store_url)
        sending = dispatcher(loaded, server.api_key)
        sending.run()
        requests = [r for r in server.requests if r.path == "/v3/mail/send"]
        accepted = server.accepted_keys()
    assert sending.report.outcomes == {"sent": 40}
    assert len(requests) == 40 and set(accepted.values()) == {1} and len(accepted) == 40
    assert set(statuses(loaded).values()) == {"sent"}
    assert 2 <= most_at_once([r.at for r in requests], 0.2) <= 8


class RateLimited:
    """The first send is refused with a 429 once three more are under way; the others wait
    until the channel's rest is written to the store, then are taken."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.four = threading.Barrier(4)

    def send(self, row: OutboxRow) -> Delivery:
        with self.lock:
            self.calls.append(row.key)
            first = len(self.calls) == 1
        with contextlib.suppress(threading.BrokenBarrierError):  # alone: one at a time
            self.four.wait(timeout=3)
        if first:
            return Delivery("retry", error="SendGrid 429", retry_after=60, rest_channel=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self._resting():
            time.sleep(0.01)
        return Delivery("sent", provider_id=f"id-{row.key}")

    def _resting(self) -> bool:
        with self.store.engine.connect() as connection:
            return "email" in outbox.pauses(connection, NOW)


def test_a_429_on_one_send_rests_the_channel_while_the_others_finish(
    tmp_path: Path, store_url: str
) -> None:
    loaded = workspace(tmp_path / "ws", "http://127.0.0.1:9", 20, 4, store_url)
    channel = RateLimited(opened(loaded))
    sending = dispatcher(loaded, "SG.x", {"email": channel})
    sending.run()
    assert len(channel.calls) == 4  # nothing more started once the 429 came
    assert sending.report.outcomes == {"sent": 3, "failed": 1}
    assert "email" in sending.report.resting
    counted = sorted(statuses(loaded).values())
    assert counted == ["failed"] + ["pending"] * 16 + ["sent"] * 3


@pytest.mark.postgres
def test_dispatchers_on_one_postgresql_never_wait_for_each_others_claims(
    tmp_path: Path, postgres_url: str
) -> None:
    loaded = workspace(tmp_path / "ws", "http://127.0.0.1:9", 12, 4, postgres_url)
    store = opened(loaded)
    with store.transaction() as first:  # a claim still being made: its rows locked
        mine, _ = outbox.claim_due(first, "email", NOW, "a:1:x", 5)
        with store.transaction() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail
            theirs, _ = outbox.claim_due(second, "email", NOW, "b:2:y", 5)
            rest, _ = outbox.claim_due(second, "email", NOW, "b:2:y", 5)
    assert len(mine) == len(theirs) == 5 and len(rest) == 2
    assert not {r.key for r in mine} & {r.key for r in theirs + rest}


@pytest.mark.postgres
def test_two_dispatchers_on_one_postgresql_send_each_row_once(
    tmp_path: Path, postgres_url: str
) -> None:
    with FakeSendGrid(validate=False) as server:
        server.latency = 0.05
        loaded = workspace(tmp_path / "ws", server.url, 60, 4, postgres_url)
        both = [
            dispatcher(loaded, server.api_key, worker=Worker("host", 1000 + n, "t"))
            for n in range(2)
        ]
        threads = [threading.Thread(target=d.run) for d in both]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        accepted = server.accepted_keys()
    sent = [d.report.outcomes["sent"] for d in both]
    assert sum(sent) == 60 and min(sent) > 0  # both took part, neither took a row twice
    assert len(accepted) == 60 and set(accepted.values()) == {1}
    assert set(statuses(loaded).values()) == {"sent"}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_run_killed_mid_batch_leaves_only_sends_under_way_in_sending(tmp_path: Path) -> None:
    with FakeSendGrid(validate=False) as server:
        server.latency = 0.5
        loaded = workspace(tmp_path / "ws", server.url, 30, 8, "sqlite:///outreach.db")
        env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
        env.pop("OUTREACH_WORKSPACE", None)
        command = [sys.executable, "-m", "outreach", "run", "--workspace", str(loaded.root)]
        command += ["--now", NOW.isoformat()]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(server.requests) < 12 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = statuses(loaded)
        left = [k for k, s in before.items() if s == "sending"]
        claimed = [k for k, s in before.items() if s == "claimed"]
        assert 1 <= len(left) + len(claimed) <= 8  # claimed only as a send could start
        assert len(left) >= 1  # marked `sending` only as its request began
        server.latency = 0.0
        again = dispatcher(loaded, server.api_key)
        again.run()
        accepted = server.accepted_keys()
    assert again.report.recovered == len(left) + len(claimed)
    final = statuses(loaded)
    assert {final[k] for k in left} == {"ambiguous"}  # an email tried once more, as today
    assert all(final[k] == "sent" and accepted[k] == 1 for k in claimed)  # never began
    assert all(final[k] == "sent" and accepted[k] == 1 for k in final if k not in left)
    assert all(accepted[k] <= 2 for k in left)
    assert len(accepted) == 30


def test_a_file_sink_writes_one_line_at_a_time() -> None:
    config = Config.model_validate({"channels": {"gifts": {"provider": "file", "path": "g"}}})
    assert ChannelSet(config, Path(), {}).concurrency("gifts") == 1
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Config.model_validate(
            {"channels": {"gifts": {"provider": "file", "path": "g", "concurrency": 2}}}
        )


def test_rows_due_later_are_not_claimed(tmp_path: Path) -> None:
    loaded = workspace(tmp_path / "ws", "http://127.0.0.1:9", 3, 4, "sqlite:///outreach.db")
    store = opened(loaded)
    with store.transaction() as connection:
        early = NOW - timedelta(hours=2)
        rows, cursor = outbox.claim_due(connection, "email", early, "a:1:x", 5)
    assert rows == [] and cursor is None
