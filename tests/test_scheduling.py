"""The daemon's wiring of APScheduler 3.x: a dispatch pass asked for (after a plan, at the end
of a rest) happens, even while the dispatch job's last tick is still finishing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from outreach.daemon import JOB_DEFAULTS, _dispatch_by


class Passes:
    """What `_dispatch_by` needs of the runtime: ticks, passes, the next moment due."""

    def __init__(self) -> None:
        self.done = threading.Event()

    def tick(self, job: str, work: Callable[[], Any]) -> None:
        work()
        self.done.set()

    def dispatch(self) -> None:
        pass

    def next_due(self) -> datetime | None:
        return None


def test_a_pass_asked_for_while_the_last_dispatch_tick_finishes_is_not_skipped() -> None:
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    finishing, finish = threading.Event(), threading.Event()

    def tick() -> None:  # a dispatch tick in its last moments (recording itself)
        finishing.set()
        finish.wait(10)

    now = datetime.now(UTC)
    scheduler.add_job(tick, IntervalTrigger(seconds=600), id="dispatch", next_run_time=now)
    scheduler.start()
    try:
        assert finishing.wait(10)
        runtime = Passes()
        _dispatch_by(runtime, scheduler, datetime.now(UTC))  # type: ignore[arg-type]
        assert runtime.done.wait(10), "the pass asked for never came"
    finally:
        finish.set()
        scheduler.shutdown(wait=False)  # as the daemon does


def test_no_pass_is_added_when_the_dispatch_tick_comes_first() -> None:
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    soon = datetime.now(UTC) + timedelta(minutes=1)
    scheduler.add_job(print, IntervalTrigger(seconds=600), id="dispatch", next_run_time=soon)
    _dispatch_by(Passes(), scheduler, soon + timedelta(seconds=5))  # type: ignore[arg-type]
    assert [job.id for job in scheduler.get_jobs()] == ["dispatch"]
    _dispatch_by(Passes(), scheduler, soon - timedelta(seconds=5))  # type: ignore[arg-type]
    assert sorted(job.id for job in scheduler.get_jobs()) == ["dispatch", "dispatch-soon"]
