"""`outreach status` for people and scripts: lines on the workspace's clock, or JSON with
ISO-8601 instants."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from outreach.adapters.store.schema import from_iso
from outreach.core.display import age, iso_instant, local_time, since
from outreach.core.outbox import State
from outreach.core.shards import spans
from outreach.core.wording import tallied
from outreach.services.status import Daemon, StatusReport


def status_json(report: StatusReport) -> dict[str, Any]:
    """`status --format json`: instants in ISO 8601 with offsets."""
    daemon = report.daemon
    found: dict[str, Any] = {"now": iso_instant(report.now), "store": report.store}
    found["daemon"] = {"running": False}
    if daemon is not None:
        silent = report.now - daemon.heartbeat_at
        found["daemon"] = {
            "running": daemon.running,
            "holder": daemon.holder,
            "started_at": iso_instant(daemon.started_at),
            "heartbeat_at": iso_instant(daemon.heartbeat_at),
            "silent_for": str(timedelta(seconds=int(silent.total_seconds()))),
            **_holds(daemon),
        }
    found["daemons"] = [
        {"running": d.running, "holder": d.holder, "started_at": iso_instant(d.started_at),
         "heartbeat_at": iso_instant(d.heartbeat_at), **_holds(d)}
        for d in report.listed
    ]  # fmt: skip
    found["shards"] = {"count": report.shard_count, "unheld": report.unheld}
    found["fallbacks"] = [
        {"topic": f.topic, "since": iso_instant(f.since), "reason": f.reason}
        for f in report.fallbacks
    ]
    found["ticks"] = {
        t.tick.job: {"at": iso_instant(t.tick.at), "seconds": t.tick.seconds, "error": t.tick.error,
                     "every": t.tick.every, "age_seconds": int(t.age.total_seconds()),
                     "stale": t.stale is not None, "stale_why": t.stale}
        for t in report.ticks
    }  # fmt: skip
    found["outbox"] = report.outbox
    found["paused"] = {
        c.name: {"until": iso_instant(c.paused_until), "why": c.paused_why}
        for c in report.channels
        if c.paused_until is not None
    }
    found["channels"] = {
        c.name: {"ok": c.problem is None and c.paused_until is None, "problem": c.problem,
                 "paused_until": iso_instant(c.paused_until), "paused_why": c.paused_why}
        for c in report.channels
    }  # fmt: skip
    found["feeds"] = report.feeds
    found["next"] = [
        {"send_at": item.send_at.isoformat(timespec="minutes"), "rule": item.rule,
         "contact": item.contact, "action": item.action, "status": item.status,
         "key": item.key, "overdue": item.overdue, "reason": item.reason}
        for item in report.next
    ]  # fmt: skip
    found["overdue"] = report.overdue
    return found


def _holds(daemon: Daemon) -> dict[str, Any]:
    """What a daemon holds: its planning shards, the feeds whose last turn it took, and how
    many rows it has claimed or is sending."""
    return {"shards": list(daemon.shards), "feeds": list(daemon.feeds),
            "in_flight": daemon.in_flight}  # fmt: skip


def _holding(daemon: Daemon, shard_count: int) -> str:
    """The same in words, for a line of its own."""
    parts = [f"shards {spans(daemon.shards)} ({len(daemon.shards)} of {shard_count})"
             if daemon.shards else "no planning shards"]  # fmt: skip
    parts.append(
        f"{daemon.in_flight:,} sends in flight" if daemon.in_flight else "no send in flight"
    )
    if daemon.feeds:
        parts.append("took the last turn of " + ", ".join(daemon.feeds))
    return "    holds: " + "; ".join(parts)


def status_lines(report: StatusReport) -> list[str]:
    at = partial(local_time, zone=report.zone)
    daemon, now = report.daemon, report.now
    if report.shared:
        lines = _shared_daemons(report)
    elif daemon is None:
        lines = ["daemon: not running"]
    elif daemon.running:
        lines = [f"daemon: running ({daemon.holder}) since {at(daemon.started_at)}, "
                 f"last heard from {since(daemon.heartbeat_at, now)} ago",
                 _holding(daemon, report.shard_count)]  # fmt: skip
    else:
        lines = [f"daemon: not running (last: {daemon.holder}, silent for "
                 f"{since(daemon.heartbeat_at, now)})"]  # fmt: skip
    for fallback in report.fallbacks:
        lines.append(f"  since {at(fallback.since)}: {fallback.reason}")
    if not report.store:
        lines.append("store: not created yet (`outreach run` or `outreach daemon` makes it)")
    for t in report.ticks:
        error = f" — {t.tick.error}" if t.tick.error else ""
        stale = f" — stale: {t.stale}" if t.stale else ""
        lines.append(f"  {t.tick.job}: last at {at(t.tick.at)}, {age(t.age.total_seconds())} "
                     f"ago ({t.tick.seconds or 0:.2f} s){error}{stale}")  # fmt: skip
    lines.append("outbox:" + (tallied(report.outbox).removeprefix(":") or " empty"))
    if any(c.problem or c.paused_until for c in report.channels):
        lines.append("channels:")
    for channel in report.channels:
        if channel.problem:
            lines.append(f"  {channel.name}: cannot send: {channel.problem}")
        if channel.paused_until is not None:
            lines.append(f"  {channel.name}: paused until {at(channel.paused_until)}: "
                         f"{channel.paused_why}")  # fmt: skip
    for feed in report.feeds:
        error = f" — {feed['last_error']}" if feed.get("last_error") else ""
        fetched = from_iso(feed.get("last_fetch"))
        when = at(fetched) if fetched else "never"
        lines.append(f"feed {feed['url']}: {feed['last_status']} at {when}{error}")
    lines.append("next:" if report.next else "next: nothing planned in the next 30 days")
    if report.overdue:
        lines[-1] += f" ({report.overdue} overdue: their time passed and they still wait)"
    for item in report.next:
        flag = "  OVERDUE" if item.overdue else ""
        waits = "  (needs approval)" if item.status == State.NEEDS_APPROVAL else ""
        if item.overdue:
            waits = f"  ({item.status}: {item.reason})" if item.reason else f"  ({item.status})"
        lines.append(f"  {local_time(item.send_at)}{flag}  {item.rule}  {item.contact}  "
                     f"{item.action}{waits}")  # fmt: skip
    return lines


def _shared_daemons(report: StatusReport) -> list[str]:
    """The daemons on a shared (PostgreSQL) store: each, running or silent."""
    at, now = partial(local_time, zone=report.zone), report.now
    running = sum(d.running for d in report.listed)
    lines = [f"daemons: {running} running" if report.listed else "daemons: none running"]
    for d in report.listed:
        heard = since(d.heartbeat_at, now)
        state = f"last heard from {heard} ago" if d.running else f"silent for {heard}"
        lines.append(f"  {d.holder}: since {at(d.started_at)}, {state}")
        lines.append(_holding(d, report.shard_count))
    if report.listed and report.unheld:
        lines.append(f"  planning shards held by no daemon just now: {report.unheld} of "
                     f"{report.shard_count} (taken at the daemons' next heartbeat)")  # fmt: skip
    return lines
