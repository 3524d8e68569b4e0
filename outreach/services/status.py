"""`outreach status`: is a daemon running, when did its jobs last run, what is in the outbox,
which feeds fail, and what goes next."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, daemons, outbox
from outreach.adapters.store.schema import feeds
from outreach.core.model import Status
from outreach.services.preview import preview
from outreach.services.workspace import Workspace

NEXT = 10


def status(workspace: Workspace, now: datetime) -> dict[str, Any]:
    store = Store.of(workspace.config, workspace.root, create=False)
    report: dict[str, Any] = {"now": now.isoformat(timespec="seconds"), "store": bool(store)}
    if store is not None:
        with store.engine.connect() as connection:
            report["daemon"] = _daemon(daemons.holder(connection), now)
            report["ticks"] = {
                job: {"at": at.isoformat(timespec="seconds"), "seconds": took, "error": error}
                for job, (at, took, error) in daemons.last_ticks(connection).items()
            }
            report["outbox"] = outbox.counts(connection)
            report["paused"] = {
                channel: {"until": until.isoformat(timespec="seconds"), "why": why}
                for channel, (until, why) in outbox.pauses(connection, now).items()
            }
            report["feeds"] = [dict(row) for row in connection.execute(select(feeds)).mappings()]
    upcoming = preview(workspace, now, 30)
    report["next"] = [
        {
            "send_at": d.send_at.isoformat(timespec="minutes"),
            "rule": d.rule_id,
            "contact": d.contact_id,
            "action": d.action,
            "status": d.status.value,
        }
        for d in upcoming
        if d.status in (Status.PLANNED, Status.NEEDS_APPROVAL) and d.send_at >= now
    ][:NEXT]
    return report


def _daemon(holder: daemons.Holder | None, now: datetime) -> dict[str, Any]:
    if holder is None:
        return {"running": False}
    gone = daemons.is_gone(holder, Worker.current(), now)
    return {
        "running": not gone,
        "holder": holder.holder,
        "started_at": holder.started_at.isoformat(timespec="seconds"),
        "heartbeat_at": holder.heartbeat_at.isoformat(timespec="seconds"),
        "silent_for": str(timedelta(seconds=int((now - holder.heartbeat_at).total_seconds()))),
    }
