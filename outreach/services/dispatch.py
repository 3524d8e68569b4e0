"""`outreach run`: plan, record, then dispatch what is due. Safe from cron every minute and
when two runs overlap: the outbox is the truth.

    record_plan   plan, then record under the write lock: each action once, by its key
    Dispatcher    resolve rows orphaned in `sending`, then, up to each channel's
                  `concurrency` at once: claim due rows (`sending`, committed before the
                  channel is called; FOR UPDATE SKIP LOCKED on PostgreSQL, so dispatchers
                  sharing a store never wait on each other), check each may still go, send
                  (within a time limit, whatever the channel does), record what the channel
                  said (outreach.core.delivery). A rate limit rests the whole channel: what is
                  under way finishes, nothing more of it starts
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from outreach.adapters.channels import Channel, Confirming
from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, outbox
from outreach.adapters.store.outbox import OutboxRow
from outreach.clock import Clock
from outreach.core.addresses import suppression_key
from outreach.core.config import Config
from outreach.core.delivery import PAUSE_ON_REFUSAL, Delivery, Rest, Step, interrupted, settle
from outreach.core.display import local_second
from outreach.core.model import Dataset, Decision, Status
from outreach.core.outbox import ATTENTION, RECORDED, State
from outreach.core.policies import Hold, hold_at_send_time
from outreach.core.replanning import plan_rules
from outreach.core.timing import QuietHours, zone
from outreach.logs import fields
from outreach.services.channels import CHANNELS, ChannelSet, Unusable, unexpected
from outreach.services.moving_dates import planned_data
from outreach.services.workspace import Workspace

log = logging.getLogger(__name__)

# How far ahead a run plans: the frequency cap must see what comes soon (a birthday note
# tomorrow outranks a check-in today), and gifts wait for approval ahead of their day.
PLAN_AHEAD = timedelta(days=14)
PLANNING_LOCK = 0x6F7574  # PostgreSQL advisory lock: one planner at a time
SETTLE_TRIES = 5  # a store busy past its timeout after a send: try again, do not lose it
STOP_GRACE = 3.0  # seconds a send may still take once the daemon is asked to stop
LAST_LOOK = 0.5  # seconds


@dataclass
class RunReport:
    recorded: Counter[str] = field(default_factory=Counter)  # new outbox rows, by status
    outcomes: Counter[str] = field(default_factory=Counter)  # what dispatch did, by status
    recovered: int = 0  # rows found in `sending` after their dispatcher died
    by_channel: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, status)
    cancelled_rules: dict[str, int] = field(default_factory=dict)  # removed rule -> rows
    held: dict[str, str] = field(default_factory=dict)  # key -> why it waits
    paused: dict[str, str] = field(default_factory=dict)  # channel -> until when, and why
    resting: dict[str, datetime] = field(default_factory=dict)  # channel -> until when
    refused: dict[str, str] = field(default_factory=dict)  # channel -> credentials refused
    unusable: dict[str, str] = field(default_factory=dict)  # channel -> why
    waiting: dict[str, int] = field(default_factory=dict)  # open outbox rows, by status
    errors: list[Decision] = field(default_factory=list)  # actions that cannot be prepared

    @property
    def needs_operator(self) -> bool:
        """Something only a person can fix keeps actions from going."""
        return bool(self.refused or self.unusable)


def run_once(
    workspace: Workspace,
    store: Store,
    channels: ChannelSet,
    clock: Clock,
    wall: Clock | None = None,
) -> RunReport:
    """`clock` chooses what is due: the real clock, or the moment `run --now` pretends it is.
    Every time recorded (a row made, claimed, tried, sent) is read from `wall`, the real
    clock; left out, the two are one."""
    report = RunReport()
    recorded = record_plan(workspace, store, clock(), (wall or clock)())
    report.recorded, report.errors = recorded.rows, recorded.errors
    if workspace.unsafe_to_send:
        report.unusable["all"] = workspace.unsafe_to_send
    else:
        config = workspace.config
        Dispatcher(store, channels, workspace.data, config, clock, report, wall=wall).run()
    with store.engine.connect() as connection:
        counts = outbox.counts(connection)
    report.waiting = {s: counts[s] for s in ATTENTION if counts.get(s)}
    return report


@dataclass(frozen=True)
class Recorded:
    rows: Counter[str]  # new outbox rows, by status (an error: new, or its reason changed)
    next_send: datetime | None  # the earliest planned send still to come, if any
    errors: list[Decision] = field(default_factory=list)  # in `error`, by send time
    new_errors: list[Decision] = field(default_factory=list)  # of those, new or changed


def record_plan(
    workspace: Workspace,
    store: Store,
    now: datetime,
    wall: datetime | None = None,
    rules: Collection[str] | None = None,
) -> Recorded:
    """Plan against what the outbox holds and record what is due, late, waiting for
    approval, or in error. The plan is made outside the write lock (it can take seconds) and
    recorded under it, if the outbox did not change meanwhile in a way that counts; if it
    did, it is made again under the lock. Either way a plan is recorded against the history
    it saw. `now` is the moment planned for; rows are stamped with `wall` (default `now`),
    the real time. With `rules`, only those rules are planned (see `plan_rules`)."""
    with store.engine.connect() as connection:
        seen = outbox.fingerprint(connection)
        decisions = _plan(workspace, connection, now, rules)
    store.check_intact()
    with store.transaction() as connection:
        if not store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            connection.execute(text(f"SELECT pg_advisory_xact_lock({PLANNING_LOCK})"))
        if outbox.fingerprint(connection) != seen:
            decisions = _plan(workspace, connection, now, rules)
        chosen = [d for d in decisions if to_record(d, now)]
        written = outbox.record(connection, chosen, wall or now)
        planned = {d.key for d in decisions}
        active = [
            r.id for r in workspace.engine.rules if r.enabled and (rules is None or r.id in rules)
        ]
        outbox.forget_errors(connection, {d.key for d in chosen}, planned, active, now)
    upcoming = [d.send_at for d in decisions if d.status is Status.PLANNED and d.send_at > now]
    rows = Counter(str(RECORDED[d.status]) for d in written)
    errors = [d for d in chosen if d.status is Status.ERROR]
    new_errors = [d for d in written if d.status is Status.ERROR]
    return Recorded(rows, min(upcoming, default=None), errors, new_errors)


def _plan(
    workspace: Workspace, connection: Connection, now: datetime, rules: Collection[str] | None
) -> list[Decision]:
    history, data = outbox.history(connection), planned_data(workspace, now)
    if rules is not None:
        return plan_rules(workspace.engine, data, now, now + PLAN_AHEAD, history, rules)
    return workspace.engine.plan(data, now, now + PLAN_AHEAD, history)


def cancel_removed_rules(
    workspace: Workspace, store: Store, now: datetime, gone: set[str]
) -> dict[str, int]:
    """Open actions of the rules in `gone` (removed, or disabled, long enough to be sure) are
    cancelled with that reason; never while a rule or config file has errors: a rule that
    does not load is not a rule that was removed."""
    active = {rule.id for rule in workspace.engine.rules if rule.enabled}
    if workspace.authoring_errors or not (gone := gone - active):
        return {}
    with store.transaction() as connection:
        return outbox.cancel_rules(connection, gone, now)


def to_record(decision: Decision, now: datetime) -> bool:
    """Rows are written when they are due (so a later edit of a rule or template still counts
    for what comes later), when they are late (never sent; kept for history), and as soon as
    they are planned when a person must act first: to approve it, or to fix what keeps it
    from being prepared (an `error`, told well before it is due)."""
    if decision.status is Status.PLANNED:
        return decision.send_at <= now
    return decision.status in (Status.NEEDS_APPROVAL, Status.LATE, Status.ERROR)


@dataclass
class _Claims:
    """Where a pass has got to in each channel's due rows."""

    after: dict[str, outbox.Cursor | None] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)  # nothing more due in this pass


class _NotClaimed(Exception):
    """Roll the claim back: the channel cannot send."""


@dataclass
class Dispatcher:
    store: Store
    channels: ChannelSet
    data: Dataset
    config: Config
    clock: Clock  # chooses what is due, and what quiet hours and catch-up windows hold back
    report: RunReport
    worker: Worker = field(default_factory=Worker.current)
    jitter: Callable[[], float] = random.random
    stop: threading.Event = field(default_factory=threading.Event)  # set: finish and return
    outdated: Callable[[], bool] = lambda: False  # the workspace changed: end this pass
    # The real clock, when `clock` pretends (`run --now`): every time written down is read
    # from it, and provider waits (retries, channel pauses) run on it. None: `clock` is real.
    wall: Clock | None = None

    def _wall(self) -> datetime:
        return (self.wall or self.clock)()

    def _shown(self, moment: datetime) -> str:
        """A time told to whoever runs it: on the workspace's clock, with its offset."""
        return local_second(moment, zone(self.config.timezone))

    def run(self) -> None:
        """Recover what an earlier dispatcher left, then send every due row once, oldest
        first, each channel with up to its `concurrency` sends under way at once; a row that
        must wait is passed over until the next run. Rows are claimed (`sending`, committed)
        only as a send can start, and what each send did is recorded as it ends."""
        self.recover()
        flying: dict[Future[Delivery], OutboxRow] = {}
        claims = _Claims()
        slots = sum(self.channels.concurrency(name) for name in CHANNELS)
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="send") as pool:
            while True:
                looked = False  # stopping, or the workspace changed: the next pass starts
                if not (self.stop.is_set() or self.outdated()):  # with today's data
                    looked = self._launch(pool, flying, claims)
                if not flying:
                    if looked:
                        continue  # what it claimed had to wait: claim the next ones
                    return
                done, _ = wait(flying, return_when=FIRST_COMPLETED)
                for future in done:  # a rate limit is recorded before anything more starts
                    self._record(flying.pop(future), future.result())

    def _launch(
        self, pool: Executor, flying: dict[Future[Delivery], OutboxRow], claims: _Claims
    ) -> bool:
        """Start a send for every free slot of every channel that may send; whether it
        looked for rows at all (a channel not drained yet)."""
        busy = Counter(row.channel for row in flying.values())
        planned, now = self.clock(), self._wall()
        with self.store.engine.connect() as connection:
            for name, (until, why) in outbox.pauses(connection, now).items():
                self.report.paused[name] = f"until {self._shown(until)}: {why}"
                self.report.resting[name] = until
        looked = False
        for name in CHANNELS:
            free = self.channels.concurrency(name) - busy[name]
            if free <= 0 or name in claims.drained or self._stopped(name):
                continue
            rows, looked = self._claim(name, free, claims, planned, now), True
            for row in rows:
                limit = self.channels.time_limit(name)
                future = pool.submit(send_within, self.channels.get(name), row, limit, self.stop)
                flying[future] = row
        return looked

    def _claim(
        self, name: str, free: int, claims: _Claims, planned: datetime, now: datetime
    ) -> list[OutboxRow]:
        """Claim up to `free` of the channel's due rows, and of those the ones that may go."""
        self.store.check_intact()  # a store deleted or replaced since: nothing more goes
        worker = str(self.worker)
        try:
            with self.store.transaction() as connection:
                after = claims.after.get(name)
                rows, cursor = outbox.claim_due(connection, name, planned, worker, free, after, now)
                if rows and self._channel(name) is None:
                    raise _NotClaimed  # none of it happened
                ready = [go for r in rows if (go := self._prepared(connection, r, planned, now))]
        except _NotClaimed:
            return []
        claims.after[name] = cursor
        if len(rows) < free:  # nothing more is due now (or another dispatcher has it)
            claims.drained.add(name)
        return ready

    def _prepared(
        self, connection: Connection, row: OutboxRow, planned: datetime, now: datetime
    ) -> OutboxRow | None:
        """The row just claimed as it should go, or None when it does not go now."""
        if self._held(connection, row, planned, now):
            return None  # not due any more, or it must wait
        if row.damaged:  # what would go cannot be told: never guess
            step = Step(State.DEAD, row.attempts, row.doubtful, f"not sent: {row.damaged}")
            outbox.finish(connection, row, step, now)
            self.report.outcomes[State.DEAD] += 1
            return None
        return self._addressed(connection, row, now)

    def _channel(self, name: str) -> Channel | None:
        try:
            return self.channels.get(name)
        except Unusable as exc:
            self.report.unusable[name] = str(exc)
            return None

    def _held(
        self, connection: Connection, row: OutboxRow, planned: datetime, now: datetime
    ) -> bool:
        """Apply a hold at the moment `planned` to a row just claimed (in the same
        transaction: no one saw it `sending`); False when it may go."""
        hold = self._hold(row, planned)
        if hold is None:
            return False
        outbox.release(connection, row, State.PENDING, now)
        if hold.status is not None:
            outbox.move(
                connection, row.key, [State.PENDING], hold.status, now, last_error=hold.reason
            )
            self.report.outcomes[hold.status] += 1
        elif hold.until is not None:
            outbox.postpone(connection, row.key, hold.until, now)
        else:
            self.report.held[row.key] = hold.reason
        return True

    def _addressed(self, connection: Connection, row: OutboxRow, now: datetime) -> OutboxRow:
        """An email goes to the mailbox the contact has now: an address changed since the
        row was recorded may no longer be theirs (opt-outs were checked on both)."""
        contact = self.data.contacts.get(row.contact_id)
        recorded = str(row.payload["details"].get("to") or "")
        if row.action != "email" or contact is None or not contact.email:
            return row
        if suppression_key(contact.email) == suppression_key(recorded):
            return row
        return outbox.readdress(connection, row, contact.email, now)

    def _hold(self, row: OutboxRow, now: datetime) -> Hold | None:
        quiet = self.config.policies.quiet_hours
        return hold_at_send_time(
            row.contact_id,
            row.action,
            row.payload.get("details", {}).get("to"),
            row.deadline,
            now,
            self.data,
            QuietHours(quiet.start, quiet.end) if quiet else None,
            self.config.timezone,
        )

    def _record(self, row: OutboxRow, delivery: Delivery) -> None:
        """Write down what the channel said; a store busy past its timeout is waited for
        (the row is sent: losing that would make a duplicate)."""
        for attempt in range(1, SETTLE_TRIES + 1):
            try:
                self._write_delivery(row, delivery)
                return
            except OperationalError:
                if attempt == SETTLE_TRIES:
                    raise
                log.warning("the store is busy; recording %s again", row.key)

    def _write_delivery(self, row: OutboxRow, delivery: Delivery) -> None:
        now, report = self._wall(), self.report
        with self.store.transaction() as connection:
            if delivery.outcome == "paused":
                outbox.release(connection, row, State.PENDING, now)  # due again once it lifts
                reason = delivery.error or "refused"
                outbox.pause(connection, row.channel, now + PAUSE_ON_REFUSAL, reason)
                report.paused[row.channel] = report.refused[row.channel] = reason
                report.resting[row.channel] = now + PAUSE_ON_REFUSAL
                return
            jitter = self.jitter()
            step = settle(delivery, row.channel, row.attempts, row.doubtful, now, jitter)
            if outbox.finish(connection, row, step, now):
                report.outcomes[step.status] += 1
                report.by_channel[row.channel, step.status] += 1
                log.info(
                    "%s %s",
                    step.status,
                    row.key,
                    extra=fields(channel=row.channel, attempts=step.attempts, error=step.error),
                )
            if step.rest is not None:
                self._rest(connection, row.channel, step.rest, delivery.error or "rate limited")

    def _rest(self, connection: Connection, channel: str, rest: Rest, why: str) -> None:
        """The channel sends nothing more until `rest.until`; the rows it has not tried yet
        wait for that only."""
        outbox.pause(connection, channel, rest.until, why)
        self.report.paused[channel] = f"until {self._shown(rest.until)}: {why}"
        self.report.resting[channel] = rest.until
        level = logging.WARNING if rest.note else logging.INFO
        extra = fields(
            channel=channel, until=rest.until.isoformat(timespec="seconds"), why=why, note=rest.note
        )
        log.log(level, "channel resting", extra=extra)

    def _stopped(self, channel: str) -> bool:
        """A channel paused or unusable is not tried again in this pass."""
        return channel in self.report.paused or channel in self.report.unusable

    def recover(self) -> None:
        """Resolve rows left in `sending` by a dispatcher that died: looked up where the
        receiver can be read back, else by `interrupted` (never a blind second gift)."""
        now = self._wall()
        with self.store.engine.connect() as connection:
            stuck = list(outbox.rows(connection, statuses=[State.SENDING]))
        for row in stuck:
            if not self.worker.orphaned(row.claimed_by, row.updated_at, now):
                continue
            step = self._resolution(row, now)
            with self.store.transaction() as connection:
                if step is None:
                    done = outbox.release(connection, row, State.PENDING, now)
                else:
                    done = outbox.finish(connection, row, step, now)
            self.report.recovered += int(done)

    def _resolution(self, row: OutboxRow, now: datetime) -> Step | None:
        """The row's next state; None when it surely never arrived (send it as if new)."""
        try:
            channel: Channel | None = self.channels.get(row.channel)
        except Unusable:
            channel = None
        arrived = channel.confirm(row) if isinstance(channel, Confirming) else None
        if arrived is False:
            return None
        if arrived:
            found = "interrupted while sending; found at the receiver"
            return Step(State.SENT, row.attempts + 1, row.doubtful, found, delivered=True)
        return interrupted(row.channel, row.attempts, row.doubtful, now)


def send_within(
    channel: Channel, row: OutboxRow, seconds: float, stop: threading.Event | None = None
) -> Delivery:
    """The channel's answer within `seconds`, whatever happens inside it: a server trickling
    its answer byte by byte, or a surprise in an adapter, never leaves a row in `sending`.
    When `stop` is set (shutdown), it waits at most STOP_GRACE seconds more."""
    answers: list[Delivery] = []

    def attempt() -> None:
        try:
            answers.append(channel.send(row))
        except Exception as exc:
            log.exception("the %s channel failed on %s", row.channel, row.key)
            answers.append(unexpected(exc, row.channel))

    worker = threading.Thread(target=attempt, name=f"send {row.key}", daemon=True)
    worker.start()
    deadline = time.monotonic() + seconds
    while worker.is_alive() and time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            deadline = min(deadline, time.monotonic() + STOP_GRACE)
            stop = None
        worker.join(min(0.2, max(0.0, deadline - time.monotonic())))
    if not answers:  # one last look: after a suspension (SIGSTOP, a laptop lid) the answer
        worker.join(LAST_LOOK)  # may be waiting already, though the deadline has passed
    if not answers:  # still talking: it may yet arrive, so what follows is doubtful
        return Delivery("retry", error=f"no answer within {seconds:.0f} s", doubtful=True)
    return answers[0]
