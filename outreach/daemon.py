"""`outreach daemon`: APScheduler 3.x as the clock, nothing more.

Fixed jobs, each with `coalesce` (a backlog of missed runs runs once), `max_instances=1` (a
slow tick is never run twice at once) and a `misfire_grace_time` of an hour (a suspended
laptop or a slow tick never silently drops work; APScheduler's default of 1 s would):

    watch     every --watch-every s (5): reload on edits; plan at once after one
    plan      every --plan-every s (300), and at start: catch up, record, cancel removed rules
    dispatch  every --dispatch-every s (60), at start, at once after a plan that recorded
              due rows, and when a channel's rest ends or a retry falls due
    heartbeat every 15 s: the store's single-daemon lock
    feed:URL  one per feed, at its `every`

What to send is computed from the store at every tick; APScheduler's own job store is memory.
The scheduler runs in the background; the main thread waits for SIGTERM or SIGINT: then no
new sends, the one in flight gets a few seconds, running jobs finish, the lock is released,
exit 0.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.store.daemons import HEARTBEAT
from outreach.core.outbox import State
from outreach.services.runtime import Runtime

log = logging.getLogger("outreach.daemon")

SOON = "dispatch-soon"  # a pass before the next dispatch tick
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
# Seconds a stop waits for the send in flight (its own grace is STOP_GRACE); a planning or
# feed tick still running is abandoned: its transaction is rolled back, nothing is half-done.
STOP_WAIT = 8.0


@dataclass(frozen=True)
class Schedule:
    dispatch_every: float = 60
    plan_every: float = 300
    watch_every: float = 5
    removal_grace: float = 300  # seconds a rule stays gone before its actions are cancelled


def serve(runtime: Runtime, schedule: Schedule) -> None:
    """Run until SIGTERM or SIGINT (or the lock is lost); the lock must be held."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    now = datetime.now(UTC)
    every = {"dispatch": schedule.dispatch_every, "plan": schedule.plan_every}
    every |= {"watch": schedule.watch_every, "heartbeat": HEARTBEAT.total_seconds()}
    work = {
        "dispatch": lambda: _dispatch(runtime, scheduler),
        "plan": lambda: _plan(runtime, scheduler),
        "heartbeat": runtime.heartbeat,
        "watch": lambda: _watch(runtime, scheduler),
    }
    for job, seconds in every.items():
        first = now if job in ("plan", "dispatch") else None
        _add(scheduler, job, runtime.tick, [job, work[job], seconds], seconds, first)
    _sync_feeds(runtime, scheduler)
    signals = Signals()
    scheduler.start()
    log.info("daemon started", extra={"fields": {"worker": str(runtime.worker), **every}})
    while signals.received is None and not runtime.stop.is_set():
        time.sleep(0.2)
    stopping = {"signal": signals.received or ("store lost" if runtime.lost else "lock lost")}
    log.info("stopping", extra={"fields": stopping})
    runtime.stop.set()  # the dispatcher takes no new row; the one in flight gets a grace
    scheduler.shutdown(wait=False)
    if not runtime.wait_for_sends(STOP_WAIT):
        log.warning("a send did not finish in time; the next start resolves it")
    log.info("daemon stopped")


class Signals:
    """Notes SIGTERM and SIGINT, and does nothing else in the handler: the main loop acts on
    it (a handler that touched the scheduler's locks could deadlock the thread it interrupts)."""

    def __init__(self) -> None:
        self.received: str | None = None
        signal.signal(signal.SIGTERM, self._note)
        signal.signal(signal.SIGINT, self._note)

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name


def _add(
    scheduler: BackgroundScheduler,
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


def _plan(runtime: Runtime, scheduler: BackgroundScheduler) -> Any:
    """Plan; what it recorded as due goes at once, not at the next dispatch tick. So that a
    send goes on time rather than up to a planning interval late, plan again at the next
    send's moment if that comes before the next planning tick."""
    report = runtime.plan()
    if report.recorded.get(State.PENDING):
        _dispatch_by(runtime, scheduler, datetime.now(UTC))
    moment = runtime.next_send
    job = scheduler.get_job("plan")
    if job is not None and moment is not None and moment < job.next_run_time:
        job.modify(next_run_time=moment)
        _dispatch_by(runtime, scheduler, moment + timedelta(seconds=1))
    return report


def _dispatch(runtime: Runtime, scheduler: BackgroundScheduler) -> Any:
    """Dispatch; the next pass comes sooner than the next tick when a row may go before it:
    a channel's rest ends (a rate limit of a few seconds), a retry falls due."""
    report = runtime.dispatch()
    _dispatch_by(runtime, scheduler, runtime.next_due())
    return report


def _dispatch_by(runtime: Runtime, scheduler: BackgroundScheduler, moment: datetime | None) -> None:
    """A dispatch pass at `moment` at the latest. It is a job of its own: the dispatch job
    moved to a moment when its last tick is still finishing would be skipped (max_instances).
    Passes never run at once all the same: they take the runtime's sending lock in turn."""
    jobs = [job for job in map(scheduler.get_job, ("dispatch", SOON)) if job is not None]
    if moment is None or any(job.next_run_time <= moment for job in jobs):
        return
    work = partial(_dispatch, runtime, scheduler)
    scheduler.add_job(
        runtime.tick,
        DateTrigger(moment),
        args=["dispatch", work],
        id=SOON,
        name="dispatch",
        replace_existing=True,
        max_instances=2,  # one may wait for the pass running: it makes its own after
    )


def _watch(runtime: Runtime, scheduler: BackgroundScheduler) -> None:
    if runtime.watch():
        _sync_feeds(runtime, scheduler)
        now = datetime.now(UTC)
        scheduler.modify_job("plan", next_run_time=now)  # plan at once
        _dispatch_by(runtime, scheduler, now + timedelta(seconds=1))


def _sync_feeds(runtime: Runtime, scheduler: BackgroundScheduler) -> None:
    """One job per feed at its interval; feeds gone from feeds.yaml lose theirs."""
    # Named without the secrets a feed's url may carry: the name shows in logs and status.
    wanted = {f"feed:{feed_key(url)}": (url, s) for url, s in runtime.feeds().items()}
    for job in scheduler.get_jobs():
        if job.id.startswith("feed:") and job.id not in wanted:
            job.remove()
    for job, (url, seconds) in wanted.items():
        current = scheduler.get_job(job)
        if current is None or current.trigger.interval.total_seconds() != seconds:
            first = datetime.now(UTC) if current is None else None  # a new feed: read it now
            scan = partial(runtime.scan, url, timedelta(seconds=seconds))
            _add(scheduler, job, runtime.tick, [job, scan, seconds], seconds, first)


def exit_on_signals() -> None:
    """Until the scheduler runs, SIGTERM/SIGINT simply end the process cleanly (exit 0)."""

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)


def main(runtime: Runtime, schedule: Schedule) -> None:
    """Serve, release the lock, and leave at once: the scheduler's worker threads are not
    daemon threads, and a long planning tick must not hold the exit for long."""
    runtime.removal_grace = timedelta(seconds=schedule.removal_grace)
    runtime.acquire()
    try:
        serve(runtime, schedule)
    finally:
        runtime.release()
    logging.shutdown()
    os._exit(1 if runtime.lost else 0)
