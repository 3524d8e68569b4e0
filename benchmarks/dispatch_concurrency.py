"""Dispatch throughput against a provider that answers slowly: sends at once, and daemons.

    python benchmarks/dispatch_concurrency.py [--messages 1000] [--latency 0.05]
        [--concurrency 1 4 8 16] [--daemons 1 2 3] [--messages-per-daemon 1500]
        [--daemon-concurrency 16]

The provider is the SendGrid fake of the tests (tests/fake_sendgrid.py, without spec
validation) answering each request after `--latency` seconds, in a thread of this process.

- One dispatcher, a SQLite store: N pending emails, then the dispatch step of `outreach run`
  (``Dispatcher(...).run()``) with `channels.email.concurrency` at each value given. On a
  checkout without that setting it sends one at a time, and says so.
- PostgreSQL (a server started in a temporary folder by tests/postgres.py): the same rows
  shared by 1, 2, 3 dispatchers, each its own process, started together; the time is from
  the start signal until the last one ends. Each sends `--daemon-concurrency` at once.

Prints messages per second; checks that every message was accepted exactly once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outreach.adapters.store import SqlStore
from outreach.clock import fixed_clock
from outreach.core.config import Config
from outreach.core.model import Contact, Dataset
from outreach.services.channels import ChannelSet
from outreach.services.dispatch import Dispatcher, RunReport

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from dispatch_speed import FROM, NOW, fill  # noqa: E402
from fake_sendgrid import FakeSendGrid  # noqa: E402


def config(host: str, concurrency: int | None) -> tuple[Config, str]:
    """The workspace config, and how many sends it has at once (this checkout's word)."""
    email: dict[str, Any] = {"provider": "sendgrid", "from": FROM, "host": host, "timeout": 10}
    if concurrency is None:
        return Config.model_validate({"channels": {"email": email}}), "default"
    try:
        chosen = {**email, "concurrency": concurrency}
        return Config.model_validate({"channels": {"email": chosen}}), str(concurrency)
    except ValidationError:  # a checkout from before the setting: one at a time
        return Config.model_validate({"channels": {"email": email}}), "1 (no setting)"


def dispatch(url: str, root: Path, host: str, key: str, count: int, at_once: int | None) -> int:
    """Run one dispatcher over the store at `url`; how many it sent."""
    store = SqlStore.open(url, root)
    assert store is not None
    chosen, _ = config(host, at_once)
    contacts = {
        f"c-{i}": Contact(id=f"c-{i}", fields={}, email=f"p{i}@example.test") for i in range(count)
    }
    channels = ChannelSet(chosen, root, {"SENDGRID_API_KEY": key})
    report = RunReport()
    dispatcher = Dispatcher(
        store, channels, Dataset.build(contacts), chosen, fixed_clock(NOW), report
    )
    dispatcher.run()
    store.engine.dispose()
    return report.outcomes["sent"]


def one_dispatcher(server: FakeSendGrid, count: int, at_once: int) -> tuple[str, float]:
    with tempfile.TemporaryDirectory(prefix="dispatch-concurrency-") as folder:
        root = Path(folder)
        store = SqlStore.open("sqlite:///outbox.db", root)
        assert store is not None
        fill(store, count, f"c{at_once}")
        _, said = config(server.url, at_once)
        started = time.perf_counter()
        sent = dispatch("sqlite:///outbox.db", root, server.url, server.api_key, count, at_once)
        seconds = time.perf_counter() - started
    if sent != count:
        raise SystemExit(f"dispatch_concurrency: {sent} sent, not {count}")
    return said, count / seconds


def daemons(server: FakeSendGrid, url: str, count: int, how_many: int, at_once: int) -> float:
    root = Path(tempfile.mkdtemp(prefix="dispatch-daemons-"))
    store = SqlStore.open(url, root)
    assert store is not None
    fill(store, count, f"d{how_many}")
    store.engine.dispose()
    command = [sys.executable, __file__, "--worker", url, str(root), server.url, str(count)]
    command.append(str(at_once))
    env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
    workers = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(how_many)
    ]
    for worker in workers:  # each says it is ready once imported and connected
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.close()
    sent = sum(int(worker.stdout.read().strip() or 0) for worker in workers if worker.stdout)
    for worker in workers:
        worker.wait()
    seconds = time.perf_counter() - started
    if sent != count:
        raise SystemExit(f"dispatch_concurrency: {sent} sent by {how_many} daemons, not {count}")
    return count / seconds


def worker(url: str, root: str, host: str, count: str, at_once: str) -> None:
    """One daemon's dispatcher, in its own process: waits for `go` on stdin."""
    print("ready", flush=True)
    sys.stdin.readline()
    sent = dispatch(url, Path(root), host, os.environ["SENDGRID_API_KEY"], int(count), int(at_once))
    print(sent, flush=True)


def on_postgresql(args: argparse.Namespace) -> None:
    import postgres

    with postgres.running_server() as server_pg, FakeSendGrid(validate=False) as server:
        os.environ["PGPASSWORD"] = postgres.PASSWORD
        server.latency = args.latency
        count, at_once = args.messages_per_daemon, args.daemon_concurrency
        print(f"PostgreSQL, {count} messages, concurrency {at_once} per daemon:")
        rates = {}
        for how_many in args.daemons:
            url = server_pg.url(server_pg.new_database())
            rates[how_many] = daemons(
                server, url, args.messages_per_daemon, how_many, args.daemon_concurrency
            )
            times = rates[how_many] / rates[args.daemons[0]]
            print(f"  {how_many} daemon(s): {rates[how_many]:7.0f} msgs/s  ({times:.2f}x)")
        accepted = server.accepted_keys()
    if len(accepted) != len(args.daemons) * args.messages_per_daemon or set(accepted.values()) != {
        1
    }:
        raise SystemExit("dispatch_concurrency: a message was accepted twice")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 8, 16])
    parser.add_argument("--daemons", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--messages-per-daemon", type=int, default=1500, help="on PostgreSQL")
    parser.add_argument("--daemon-concurrency", type=int, default=16, help="on PostgreSQL")
    args = parser.parse_args(argv)
    print(f"one dispatcher, SQLite, {args.messages} messages, latency {args.latency}s:")
    with FakeSendGrid(validate=False) as server:
        server.latency = args.latency
        for at_once in args.concurrency:
            said, rate = one_dispatcher(server, args.messages, at_once)
            print(f"  concurrency {said:>14}: {rate:7.0f} msgs/s")
    if args.daemons:
        on_postgresql(args)
    return None


if __name__ == "__main__":
    main()
