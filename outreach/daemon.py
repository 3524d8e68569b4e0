"""`outreach daemon`: APScheduler 3.x as the clock, nothing more.

Fixed jobs, each with `coalesce` (a backlog of missed runs runs once), `max_instances=1` (a
slow tick is never run twice at once) and a `misfire_grace_time` of an hour (a suspended
laptop or a slow tick never silently drops work; APScheduler's default of 1 s would):

    watch     every --watch-every s (5): reload on edits; plan at once after one
    plan      every --plan-every s (300), and at start: catch up, record, cancel removed rules
    dispatch  every --dispatch-every s (60), and at start
    heartbeat every 15 s: the store's single-daemon lock
    feed:URL  one per feed, at its `every`

What to send is computed from the store at every tick; APScheduler's own job store is memory.
SIGTERM or SIGINT: no new sends, the one in flight gets a few seconds, the lock is released,
exit 0.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from outreach.adapters.store.daemons import HEARTBEAT
from outreach.services.runtime import Runtime

log = logging.getLogger("outreach.daemon")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


@dataclass(frozen=True)
class Schedule:
    dispatch_every: float = 60
    plan_every: float = 300
    watch_every: float = 5


def serve(runtime: Runtime, schedule: Schedule) -> None:
    """Run until SIGTERM or SIGINT (or the lock is lost); the lock must be held."""
    scheduler = BlockingScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    now = datetime.now(UTC)
    every = {"dispatch": schedule.dispatch_every, "plan": schedule.plan_every}
    every |= {"watch": schedule.watch_every, "heartbeat": HEARTBEAT.total_seconds()}
    work = {
        "dispatch": runtime.dispatch,
        "plan": runtime.plan,
        "heartbeat": runtime.heartbeat,
        "watch": lambda: _watch(runtime, scheduler),
    }
    for job, seconds in every.items():
        first = now if job in ("plan", "dispatch") else None
        _add(scheduler, job, runtime.tick, [job, work[job]], seconds, first)
    _sync_feeds(runtime, scheduler)
    _stop_on_signals(runtime, scheduler)
    log.info("daemon started", extra={"fields": {"worker": str(runtime.worker), **every}})
    scheduler.start()
    log.info("daemon stopped")


def _add(
    scheduler: BlockingScheduler,
    job: str,
    function: Any,
    args: list[Any],
    seconds: float,
    first: datetime | None = None,
) -> None:
    scheduler.add_job(
        function,
        IntervalTrigger(seconds=seconds),
        args=args,
        id=job,
        name=job,
        replace_existing=True,
        **({"next_run_time": first} if first else {}),
    )


def _watch(runtime: Runtime, scheduler: BlockingScheduler) -> None:
    if runtime.stop.is_set():
        scheduler.shutdown(wait=False)
        return
    if runtime.watch():
        _sync_feeds(runtime, scheduler)
        scheduler.modify_job("plan", next_run_time=datetime.now(UTC))  # plan at once


def _sync_feeds(runtime: Runtime, scheduler: BlockingScheduler) -> None:
    """One job per feed at its interval; feeds gone from feeds.yaml lose theirs."""
    wanted = {f"feed:{url}": (url, seconds) for url, seconds in runtime.feeds().items()}
    for job in scheduler.get_jobs():
        if job.id.startswith("feed:") and job.id not in wanted:
            job.remove()
    for job, (url, seconds) in wanted.items():
        current = scheduler.get_job(job)
        if current is None or current.trigger.interval.total_seconds() != seconds:
            _add(scheduler, job, runtime.tick, [job, partial(runtime.scan, url)], seconds)


def _stop_on_signals(runtime: Runtime, scheduler: BlockingScheduler) -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        runtime.stop.set()  # the dispatcher takes no new row; the one in flight gets a grace
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(runtime: Runtime, schedule: Schedule) -> None:
    runtime.acquire()
    try:
        serve(runtime, schedule)
    finally:
        runtime.release()
