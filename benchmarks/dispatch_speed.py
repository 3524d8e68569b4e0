"""Throughput of emails through the SendGrid channel to a local server, beside bare client calls.

    python benchmarks/dispatch_speed.py [--messages 2000] [--rounds 4] [--latency 0]

The server is the loopback SendGrid fake of the tests (tests/fake_sendgrid.py), in a thread of
this process. For raw speed it runs with `validate=False` (no check of each body against
SendGrid's OpenAPI spec, which costs more than the rest of the request); one more pass runs
with validation on when the spec is present. Three ways to send N messages, in the same run:

- (a) bare client: ``SendGridAPIClient(key, host=url).client.mail.send.post(request_body=body,
  timeout=10)`` with one prebuilt body (a new `custom_args` key each time);
- (b) our channel: ``SendGridChannel(settings, key).send(row)`` for N outbox rows built like
  `outreach send-test` builds its row (so each builds its body: addresses parsed, lines joined);
- (c) the whole dispatch path: N pending rows in a real SQLite store (a temporary folder; not
  timed), then the dispatch step of `outreach run` sends them all
  (``outreach.services.dispatch.Dispatcher(...).run()``): per row a write transaction that
  checks and claims it, the request (within the channel's time limit), a write transaction
  that settles it.

The N messages are split into rounds; each round runs (a), (b) and (c) in a rotated order, so
that neither warming up nor the server's growing lists favour one of them. Overhead factors are
time ratios: (b)/(a) and (c)/(a).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sendgrid import SendGridAPIClient
from sqlalchemy import insert

from outreach.adapters.channels.sendgrid import SendGridChannel
from outreach.adapters.store import SqlStore
from outreach.adapters.store.schema import iso, outbox
from outreach.clock import fixed_clock
from outreach.core.config import Config
from outreach.core.config import SendGridChannel as SendGridSettings
from outreach.core.model import Contact, Dataset
from outreach.core.outbox import OutboxRow
from outreach.services.channels import ChannelSet
from outreach.services.dispatch import Dispatcher, RunReport

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fake_sendgrid import FakeSendGrid  # noqa: E402

NOW = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
FROM = "Acme <hello@acme.test>"
VARIANTS = ("a", "b", "c")
NAMES = {"a": "bare client", "b": "SendGridChannel.send", "c": "dispatch (store + channel)"}


def payload(i: int) -> dict[str, Any]:
    return {
        "subject": f"Happy birthday, Person{i}!",
        "text": f"Dear Person{i},\n\nall the best for the year ahead.",
        "html": None,
        "details": {"to": f"p{i}@example.test", "to_name": f"Person{i}", "from": None},
    }


def row(key: str, i: int) -> OutboxRow:
    """An outbox row as `outreach send-test` builds one (outreach.services.send_test)."""
    return OutboxRow(
        key=key,
        rule_id="birthday-note",
        contact_id=f"c-{i}",
        action="email",
        channel="email",
        status="sending",
        send_at=NOW,
        payload=payload(i),
        attempts=0,
        provider_id=None,
        last_error=None,
        updated_at=NOW,
    )


def bare(server: FakeSendGrid, count: int, tag: str) -> float:
    client = SendGridAPIClient(server.api_key, host=server.url)
    body = {
        "personalizations": [{"to": [{"email": "p0@example.test", "name": "Person0"}]}],
        "from": {"email": "hello@acme.test", "name": "Acme"},
        "subject": "Happy birthday, Person0!",
        "content": [{"type": "text/plain", "value": payload(0)["text"]}],
        "custom_args": {"outreach_key": "", "outreach_rule": "birthday-note"},
    }
    started = time.perf_counter()
    for i in range(count):
        body["custom_args"]["outreach_key"] = f"{tag}:{i}"
        client.client.mail.send.post(request_body=body, timeout=10)
    return time.perf_counter() - started


def settings(server: FakeSendGrid) -> SendGridSettings:
    return SendGridSettings.model_validate(
        {"provider": "sendgrid", "from": FROM, "host": server.url, "timeout": 10}
    )


def channel(server: FakeSendGrid, count: int, tag: str) -> float:
    adapter = SendGridChannel(settings(server), server.api_key)
    rows = [row(f"{tag}:{i}", i) for i in range(count)]
    started = time.perf_counter()
    for one in rows:
        delivery = adapter.send(one)
        if delivery.outcome != "sent":
            raise SystemExit(f"dispatch_speed: the channel said {delivery}")
    return time.perf_counter() - started


def fill(store: SqlStore, count: int, tag: str) -> None:
    """`count` pending emails due now, keyed `tag:i`."""
    created = iso(NOW - timedelta(minutes=5))
    rows = [
        {
            "key": f"{tag}:{i}",
            "rule_id": "birthday-note",
            "contact_id": f"c-{i}",
            "action": "email",
            "channel": "email",
            "status": "pending",
            "send_at": created,
            "deadline": iso(NOW + timedelta(days=2)),
            "payload": json.dumps(payload(i)),
            "attempts": 0,
            "created_at": created,
            "updated_at": created,
        }
        for i in range(count)
    ]
    with store.transaction() as connection:
        connection.execute(insert(outbox), rows)


def whole_path(server: FakeSendGrid, count: int, tag: str) -> float:
    with tempfile.TemporaryDirectory(prefix="dispatch-speed-") as folder:
        root = Path(folder)
        store = SqlStore.open("sqlite:///outbox.db", root)
        assert store is not None
        fill(store, count, tag)
        contacts = {
            f"c-{i}": Contact(id=f"c-{i}", fields={}, email=f"p{i}@example.test")
            for i in range(count)
        }
        config = Config.model_validate(
            {"channels": {"email": settings(server).model_dump(by_alias=True)}}
        )
        channels = ChannelSet(config, root, {"SENDGRID_API_KEY": server.api_key})
        clock, report = fixed_clock(NOW), RunReport()
        dispatcher = Dispatcher(store, channels, Dataset.build(contacts), config, clock, report)
        started = time.perf_counter()
        dispatcher.run()
        seconds = time.perf_counter() - started
        store.engine.dispose()
    if report.outcomes != {"sent": count}:
        raise SystemExit(f"dispatch_speed: dispatch did {dict(report.outcomes)}, not {count} sent")
    return seconds


RUNNERS: dict[str, Callable[[FakeSendGrid, int, str], float]] = {
    "a": bare,
    "b": channel,
    "c": whole_path,
}


def measure(server: FakeSendGrid, messages: int, rounds: int) -> dict[str, float]:
    """Seconds per variant for `messages` each, in rounds of rotating order."""
    run = secrets.token_hex(3)
    for variant in VARIANTS:  # warm up: imports, first connections, SQLite's first file
        RUNNERS[variant](server, 20, f"warm-{run}-{variant}")
    seconds = dict.fromkeys(VARIANTS, 0.0)
    sizes = [messages // rounds + (r < messages % rounds) for r in range(rounds)]
    for r, size in enumerate(sizes):
        order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
        if r % 2:
            order = order[::-1]
        for variant in order:
            seconds[variant] += RUNNERS[variant](server, size, f"{run}-{variant}-{r}")
    return seconds


def report(title: str, messages: int, seconds: dict[str, float]) -> None:
    print(title)
    for variant in VARIANTS:
        rate = messages / seconds[variant]
        per = seconds[variant] / messages * 1000
        print(
            f"  ({variant}) {NAMES[variant]:<28} {rate:8.0f} msgs/s  "
            f"{per:6.2f} ms/msg  {seconds[variant]:6.2f} s"
        )
    for variant in ("b", "c"):
        print(f"  overhead ({variant})/(a): {seconds[variant] / seconds['a']:.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="per variant")
    parser.add_argument("--rounds", type=int, default=4, help="order rotated each round")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the server waits before answering"
    )
    parser.add_argument(
        "--validated-messages",
        type=int,
        default=None,
        help="messages per variant for the pass with spec validation (default: --messages)",
    )
    args = parser.parse_args(argv)
    if args.messages < args.rounds or args.rounds < 1:
        parser.error("--messages must be at least --rounds, and --rounds at least 1")

    print(f"{args.messages} messages per variant, {args.rounds} rounds, latency {args.latency}s")
    with FakeSendGrid(validate=False) as server:
        server.latency = args.latency
        seconds = measure(server, args.messages, args.rounds)
        accepted = len(server.accepted)
    expected = 3 * (args.messages + 20)
    if accepted != expected:
        raise SystemExit(f"dispatch_speed: the server accepted {accepted}, not {expected}")
    report("server without spec validation (raw speed):", args.messages, seconds)

    with FakeSendGrid(validate=True) as server:
        if not server.validating:
            print("server with spec validation: skipped, SendGrid's OpenAPI spec is not present")
            return
        server.latency = args.latency
        count = args.validated_messages or args.messages
        seconds = measure(server, count, args.rounds)
        errors = server.spec_errors
    report(f"server with spec validation ({count} messages per variant):", count, seconds)
    if errors:
        raise SystemExit(f"dispatch_speed: spec errors: {errors[:3]}")


if __name__ == "__main__":
    main()
