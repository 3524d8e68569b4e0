"""How soon email flows again after a storm of 429s, through the real daemon.

    python benchmarks/rate_limit_recovery.py [--emails 50] [--storm 3] [--reset-ahead 2]
                                             [--dispatch-every 60] [--timeout 600]

A SendGrid stand-in (tests/fake_sendgrid.py, in a thread of this process) answers the first
--storm requests 429 with `X-RateLimit-Reset` the first whole second at least --reset-ahead
seconds after each request (as SendGrid does), then 202. A workspace with --emails birthday
notes due now (in a temporary folder) is served by `outreach daemon` in a subprocess, with its
default intervals but --dispatch-every, until the stand-in has accepted every note.

Printed: seconds from the daemon's start to its first request, and to the last note accepted;
seconds from the first 429 to the last note accepted, and to the last of those refused at most
once (a row refused again follows its own backoff); the longest pause between two requests, and
the longest wait past a reset; the number of requests; how many rows were refused how often.

The daemon is the `outreach` of the Python that runs this script: to measure another checkout,
run it with that checkout's Python (a venv with it installed), e.g. a worktree of main:

    git worktree add --detach ../before main && (cd ../before && python3 -m venv .venv &&
      .venv/bin/pip install -q -c constraints.txt -e '.[test]')
    ../before/.venv/bin/python benchmarks/rate_limit_recovery.py
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import outreach

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fake_sendgrid import FakeSendGrid, Limit, RecordedRequest  # noqa: E402

TEMPLATE = (
    "{% block subject %}Happy birthday, {{ contact.first_name }}!{% endblock %}"
    "{% block text %}Dear {{ contact.first_name }}, all the best.{% endblock %}\n"
)


def workspace(root: Path, url: str, emails: int, moment: datetime) -> Path:
    """Notes for `emails` people whose birthday is today, due at `moment` (just passed)."""
    (root / "data").mkdir(parents=True)
    (root / "rules").mkdir()
    (root / "templates").mkdir()
    (root / "outreach.yaml").write_text(
        "timezone: UTC\nlocale: en\nstore: sqlite:///outreach.db\n"
        "data: {contacts: data/contacts.csv, companies: data/companies.yaml,\n"
        "       purchases: data/purchases.csv, feeds: data/feeds.yaml,\n"
        "       suppressions: data/suppressions.csv}\n"
        "channels:\n"
        f"  email: {{provider: sendgrid, api_key_env: SENDGRID_API_KEY, host: '{url}',\n"
        "          from: 'Acme <hello@acme.test>', timeout: 5}\n"
        "  gifts: {provider: file, path: out/gifts.jsonl}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "first_name", "email", "birthday"])
    for i in range(emails):
        writer.writerow([f"c-{i:04}", f"P{i}", f"p{i}@client.test", f"1980-{moment:%m-%d}"])
    (root / "data/contacts.csv").write_text(out.getvalue(), encoding="utf-8")
    (root / "data/purchases.csv").write_text("id,contact_id,date,amount,currency\n")
    (root / "data/companies.yaml").write_text("companies: []\n")
    (root / "data/feeds.yaml").write_text("feeds: []\n")
    (root / "data/suppressions.csv").write_text("email\n")
    (root / "rules/notes.yaml").write_text(
        "rules:\n  - id: note\n    trigger: {birthday: {}}\n"
        "    action: {email: {template: note}}\n"
        f'    schedule: {{at: "{moment:%H:%M}", late_by_at_most: 2h}}\n',
        encoding="utf-8",
    )
    (root / "templates/note.j2").write_text(TEMPLATE, encoding="utf-8")
    return root


def serve(root: Path, server: FakeSendGrid, emails: int, dispatch_every: float, timeout: float):
    """Start the daemon; return when every note is accepted (or on timeout): its start."""
    env = {**os.environ, "SENDGRID_API_KEY": server.api_key}
    env.pop("OUTREACH_WORKSPACE", None)
    command = [sys.executable, "-m", "outreach", "daemon", "--workspace", str(root)]
    command += ["--dispatch-every", str(dispatch_every), "--log-format", "json"]
    with (root / "daemon.log").open("w") as log:
        started = time.time()
        daemon = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            while len(server.accepted_keys()) < emails:
                if daemon.poll() is not None or time.time() - started > timeout:
                    tail = (root / "daemon.log").read_text()[-2000:]
                    raise SystemExit(f"rate_limit_recovery: not all accepted; daemon log:\n{tail}")
                time.sleep(0.05)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    return started


def key(request: RecordedRequest) -> str:
    return str(request.body["custom_args"]["outreach_key"])


def report(requests: list[RecordedRequest], started: float) -> None:
    moments = [r.at for r in requests]
    refused = Counter(key(r) for r in requests if r.status == 429)
    accepted = {key(r): r.at for r in requests if r.status == 202}
    first_refusal = min((r.at for r in requests if r.status == 429), default=moments[0])
    others = [at for k, at in accepted.items() if refused[k] < 2]
    gaps = [after - before for before, after in itertools.pairwise(moments)]
    past_reset = [  # from a 429's reset to the next request
        moments[i + 1] - int(r.answered["X-RateLimit-Reset"])
        for i, r in enumerate(requests[:-1])
        if r.status == 429
    ]
    last = max(accepted.values())
    times = sorted(Counter(refused.values()).items())
    lines = {
        "first request after start": moments[0] - started,
        "all accepted after start": last - started,
        "all accepted after the first 429": last - first_refusal,
        "... but the rows refused twice or more": max(others) - first_refusal,
        "longest pause between requests": max(gaps, default=0),
        "longest wait past a reset": max(past_reset, default=0),
    }
    for name, seconds in lines.items():
        print(f"  {name:<40} {seconds:7.1f} s")
    print(f"  {'requests':<40} {len(requests):7d}")
    print(f"  {'refused rows':<40} {', '.join(f'{n} row(s) {t}x' for t, n in times)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=50)
    parser.add_argument("--storm", type=int, default=3, help="429s before the 202s")
    parser.add_argument("--reset-ahead", type=float, default=2.0, help="seconds")
    parser.add_argument("--dispatch-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds")
    args = parser.parse_args()
    moment = datetime.now(UTC) - timedelta(minutes=5)
    print(f"outreach from {Path(outreach.__file__).parent}")
    print(
        f"{args.emails} emails due; the first {args.storm} requests answered 429 with a reset "
        f"{args.reset_ahead:g} s ahead; daemon --dispatch-every {args.dispatch_every:g}"
    )
    with tempfile.TemporaryDirectory(prefix="rate-limit-") as folder, FakeSendGrid() as server:
        server.script(*[Limit(args.reset_ahead)] * args.storm)
        root = workspace(Path(folder) / "ws", server.url, args.emails, moment)
        started = serve(root, server, args.emails, args.dispatch_every, args.timeout)
        report(list(server.requests), started)


if __name__ == "__main__":
    main()
