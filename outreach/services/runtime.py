"""What the daemon runs on each tick, and what it keeps between ticks: the last good
workspace, the store, the channels. No business state lives here: the outbox is the truth.

    watch     notices edits to outreach.yaml, rules, templates and data files and reads
              again only what changed (outreach.yaml: everything); a workspace whose
              hand-written files load without errors takes over, else its problems are
              logged (path:line:col) and the last good one stays
    plan      plans and records (catching up on what fell due while the daemon was down,
              recording as `late` what is past its window), cancels actions of removed rules;
              after an edit of rules or templates alone, plans only the rules it changed
    dispatch  sends what is due; beats the daemon lock's heartbeat
    scan      one feed
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.processes import Worker
from outreach.adapters.store import Store, daemons, outbox
from outreach.adapters.store.identity import open_lasting
from outreach.clock import Clock, system_clock
from outreach.core.delivery import next_wake
from outreach.core.model import with_mentions
from outreach.core.replanning import changed_rules, rule_fingerprints
from outreach.errors import StoreLost, UserError, WorkspaceError
from outreach.logs import fields, hide
from outreach.services.channels import ChannelSet
from outreach.services.config_file import data_files
from outreach.services.dispatch import (
    Dispatcher,
    RunReport,
    cancel_removed_rules,
    record_plan,
)
from outreach.services.workspace import (
    CONFIG_FILE,
    Workspace,
    authoring_of,
    load_authoring,
    load_workspace,
    reload_workspace,
)

log = logging.getLogger("outreach.daemon")

Stamp = tuple[tuple[str, int, int, int, int], ...]  # path, mtime, ctime, size, mode


class AlreadyRunning(UserError):
    """Another daemon holds this store."""


@dataclass
class Runtime:
    root: Path
    environ: Mapping[str, str]
    workspace: Workspace
    store: Store
    clock: Clock = system_clock
    worker: Worker = field(default_factory=Worker.current)
    stop: threading.Event = field(default_factory=threading.Event)
    on_tick: Callable[[str, float, Any], None] | None = None  # metrics: job, seconds, result
    stamp: Stamp = ()
    channels: ChannelSet = field(init=False)
    sending: threading.Lock = field(default_factory=threading.Lock)  # held by a dispatch tick
    next_send: datetime | None = None  # the earliest planned send still to come
    settling: Stamp = ()  # files seen changed once: taken when they look the same again
    removal_grace: timedelta = timedelta(minutes=5)
    missing_since: dict[str, datetime] = field(default_factory=dict)  # rule id -> first missed
    lost: str | None = None  # why the store cannot be used any more: the daemon stops
    # What the next planning tick plans: every rule while `stale` (at start, after an edit of
    # data or outreach.yaml), else the rules in `replan` alone when an edit changed only
    # rules or templates, else (the ordinary tick) every rule. `handoff` guards the three
    # and the workspace, which the watch and plan ticks share from their own threads.
    stale: bool = True
    replan: frozenset[str] | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    config_broken: bool = False  # outreach.yaml did not load: the next change reads it all
    handoff: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._use_channels(self.workspace)
        self.stamp = self.stamp or files_stamp(self.root, self.workspace)
        self.fingerprints = rule_fingerprints(self.workspace.engine)

    @classmethod
    def start(
        cls,
        root: Path,
        environ: Mapping[str, str],
        clock: Clock = system_clock,
        new_store: bool = False,
    ) -> Runtime:
        workspace = load_workspace(root)
        log_problems(workspace)
        if workspace.config.data_dated_for is not None:
            log.warning(
                "data_dated_for is set in outreach.yaml: the data's dates move with the clock "
                "(demo and sample data only; delete it once the data is real)"
            )
        store = open_lasting(workspace.config, root, new_store)
        assert store is not None
        return cls(root, environ, workspace, store, clock)

    # --- the lock -----------------------------------------------------------------------

    def acquire(self) -> None:
        """One daemon per SQLite store (PostgreSQL stores are shared by design); every daemon
        enters itself in the store's list of daemons."""
        holder = None
        with self.store.transaction() as connection:
            if self.store.is_sqlite:
                holder = daemons.acquire(connection, self.worker, self.clock())
            if holder is None:
                daemons.register(connection, self.worker, self.clock())
                if self.store.is_sqlite:
                    daemons.recover(connection)  # a fresh start runs on the workspace as it is
        if holder is not None:
            raise AlreadyRunning(
                f"another daemon ({holder.holder}) runs on this store since "
                f"{holder.started_at:%Y-%m-%d %H:%M:%S} UTC, last heard from at "
                f"{holder.heartbeat_at:%H:%M:%S}; stop it first (one daemon per SQLite store)"
            )

    def release(self) -> None:
        if self.lost:
            return  # not a word more to a store that is gone (it would make a new file)
        with self.store.transaction() as connection:
            daemons.release(connection, self.worker)

    def heartbeat(self) -> bool:
        """Say we are alive; False (and stop) when another daemon has taken the store over,
        e.g. after this one was suspended for minutes."""
        if not self.store.is_sqlite:
            with self.store.transaction() as connection:
                daemons.beat_registered(connection, self.worker, self.clock())
            return True
        self.store.check_intact()
        with self.store.transaction() as connection:
            ours = daemons.beat(connection, self.worker, self.clock())
            daemons.beat_registered(connection, self.worker, self.clock())
        if not ours:
            log.error("another daemon has taken this store over; stopping")
            self.stop.set()
        return ours

    # --- ticks --------------------------------------------------------------------------

    def watch(self) -> bool:
        """Take a changed workspace if its hand-written files are sound; True if anything
        changed. A change is taken once the files hold still for one look (not half-written).
        Only what changed is read again: a rule or template edit keeps the data (and its
        indexes), a data file's edit reads that kind again (contacts: the purchases too) and
        keeps the rest; an edit of outreach.yaml reads everything. With an error in a rule or
        template, the last good rules and templates stay and the data files are still taken;
        with an error in outreach.yaml nothing is taken and nothing is sent (an opt-out edited
        meanwhile could not be read) until it is fixed."""
        stamp = files_stamp(self.root, self.workspace)
        if stamp == self.stamp or stamp != self.settling:
            self.settling = stamp
            return False
        parts = changed_parts(self.stamp, stamp, self.root, self.workspace)
        self.stamp = stamp
        whole = CONFIG in parts or self.config_broken or self.workspace.sources is None
        try:
            candidate = load_workspace(self.root) if whole else self._reloaded(parts)
        except WorkspaceError as exc:
            return self._config_broken(str(exc))
        log_problems(candidate)
        if candidate.config_errors:
            return self._config_broken(str(candidate.config_errors[0]))
        self.config_broken = False
        self._fall_back("config", None)
        if whole or AUTHORING in parts:
            candidate = self._last_good_authoring(candidate, whole)
        read = "everything" if whole else ", ".join(sorted(parts))
        log.info("workspace reloaded", extra=fields(rules=len(candidate.engine.rules), read=read))
        self._take(candidate, data_changed=whole or bool(parts - {AUTHORING}))
        return True

    def _reloaded(self, parts: set[str]) -> Workspace:
        """The workspace with the parts in `parts` read again (not outreach.yaml)."""
        workspace = self.workspace
        authoring = load_authoring(self.root, workspace.config) if AUTHORING in parts else None
        return reload_workspace(workspace, parts - {AUTHORING}, authoring)

    def _last_good_authoring(self, candidate: Workspace, whole: bool) -> Workspace:
        """`candidate`, or with rules or templates in error, the last good ones with the
        candidate's data."""
        broken = candidate.authoring_errors
        if not broken:
            self._fall_back("rules", None)
            if candidate.config.store != self.workspace.config.store:
                log.warning("store: changed in outreach.yaml; restart the daemon to use it")
            self._note_renames(candidate)
            return candidate
        log.error("rules or templates have errors: their last good version runs; data reloaded")
        self._fall_back("rules", f"the last good rules and templates run: {broken[0]}")
        if whole or self.workspace.sources is None:  # the last good config too, as it was
            data, unsafe = candidate.data, candidate.unsafe_to_send
            return replace(self.workspace, data=data, unsafe_to_send=unsafe, sources=None)
        return reload_workspace(candidate, (), authoring_of(self.workspace))

    def _take(self, candidate: Workspace, data_changed: bool) -> None:
        """Run on `candidate` from now on; plan next what its changes call for."""
        prints = rule_fingerprints(candidate.engine)
        with self.handoff:
            if data_changed:
                self.stale, self.replan = True, None
            elif not self.stale:
                edited = changed_rules(self.fingerprints, prints)
                self.replan = (self.replan or frozenset()) | edited
            self.fingerprints = prints
            self.workspace = candidate
        self._use_channels(candidate)

    def _use_channels(self, workspace: Workspace) -> None:
        """Channels as `workspace` configures them; their secrets never reach a log line."""
        self.channels = ChannelSet(workspace.config, self.root, self.environ)
        hide(self.channels.redact)

    def _config_broken(self, problem: str) -> bool:
        self.config_broken = True
        reason = f"outreach.yaml has errors ({problem})"
        log.error("%s; nothing is sent until it is fixed", reason)
        self._fall_back("config", f"nothing is sent: {reason}")
        self.workspace = replace(self.workspace, unsafe_to_send=reason)
        return True

    def _fall_back(self, topic: str, reason: str | None) -> None:
        """Tell `outreach status` what the daemon runs on (None: the workspace as it is)."""
        try:
            with self.store.transaction() as connection:
                if reason is None:
                    daemons.recover(connection, (topic,))
                else:
                    daemons.fall_back(connection, topic, self.clock(), reason)
        except Exception:  # only a report: the daemon keeps going
            log.exception("cannot record what the daemon runs on")

    def _note_renames(self, candidate: Workspace) -> None:
        before = {rule.id for rule in self.workspace.engine.rules}
        after = {rule.id for rule in candidate.engine.rules}
        if before - after and after - before:
            log.warning(
                "rules %s are gone and %s are new: a renamed rule is a new rule, and acts again "
                "on occasions the old one already acted on",
                ", ".join(sorted(before - after)),
                ", ".join(sorted(after - before)),
            )

    def plan(self) -> RunReport:
        now = self.clock()
        with self.handoff:
            rules = None if self.stale else self.replan
            self.stale, self.replan, workspace = False, None, self.workspace
        workspace = self._with_news(workspace)
        if rules is not None:
            names = ", ".join(sorted(rules)) or "none"
            log.info("re-planning only the rules that changed", extra=fields(rules=names))
        recorded = record_plan(workspace, self.store, now, rules=rules)
        # After planning some rules alone, the others' next send still stands.
        before = self.next_send if rules is not None and self.next_send else None
        sends = [moment for moment in (recorded.next_send, before) if moment and moment > now]
        self.next_send = min(sends, default=None)
        report = RunReport(recorded=recorded.rows, errors=recorded.errors)
        for decision in recorded.new_errors:
            log.warning(
                "action cannot be prepared",
                extra=fields(
                    key=decision.key,
                    rule=decision.rule_id,
                    contact=decision.contact_id,
                    error=decision.reason,
                ),
            )
        report.cancelled_rules = cancel_removed_rules(workspace, self.store, now, self._gone(now))
        for rule, rows in report.cancelled_rules.items():
            log.info("cancelled actions of a removed rule", extra=fields(rule=rule, rows=rows))
        if report.recorded:
            log.info("planned", extra=fields(**report.recorded))
        return report

    def _gone(self, now: datetime) -> set[str]:
        """Rules missing from the workspace for at least `removal_grace`: a rule file that is
        being rewritten, or a folder being swapped, is not a rule that was removed."""
        with self.store.engine.connect() as connection:
            recorded = outbox.open_rules(connection)
        active = {rule.id for rule in self.workspace.engine.rules if rule.enabled}
        missing = recorded - active
        self.missing_since = {r: self.missing_since.get(r, now) for r in missing}
        return {r for r, since in self.missing_since.items() if now - since >= self.removal_grace}

    def dispatch(self) -> RunReport:
        """Send what is due, one pass at a time (a second caller waits, then makes its own);
        one pass more if a channel the pass found resting may send again by its end (a long
        pass, a short rate limit)."""
        with self.sending:
            while True:
                report = self._dispatch()
                rested = any(until <= self.clock() for until in report.resting.values())
                if not rested or self.stop.is_set():
                    return report

    def next_due(self) -> datetime | None:
        """The next moment a row may go that comes after now: a channel's rest ends, a retry
        falls due, a row held until later."""
        now = self.clock()
        with self.store.engine.connect() as connection:
            moments = outbox.upcoming(connection, now)
            rests = {
                channel: until for channel, (until, _) in outbox.pauses(connection, now).items()
            }
        return next_wake(moments, rests, now)

    def wait_for_sends(self, seconds: float) -> bool:
        """After `stop`: wait for a dispatch tick in flight to record its last send."""
        if self.sending.acquire(timeout=seconds):
            self.sending.release()
            return True
        return False

    def _dispatch(self) -> RunReport:
        report = RunReport()
        if not self.heartbeat():
            return report
        if self.workspace.unsafe_to_send:
            log.error("nothing is sent until this is fixed: %s", self.workspace.unsafe_to_send)
            return report
        workspace = self.workspace
        Dispatcher(
            self.store,
            self.channels,
            workspace.data,
            workspace.config,
            self.clock,
            report,
            self.worker,
            stop=self.stop,
            outdated=lambda: self.workspace is not workspace,
        ).run()
        for channel, why in {**report.unusable, **report.refused}.items():
            log.error("channel cannot send", extra=fields(channel=channel, why=why))
        return report

    def scan(self, url: str, every: timedelta | None = None) -> Any:
        """Read one feed, unless another daemon on this store read it within its interval
        (`every`)."""
        from outreach.services.news import scan_feeds

        now = self.clock()
        if every is not None and not self.store.take_feed_turn(url, now, every):
            log.info("feed read by another daemon lately", extra=fields(feed=feed_key(url)))
            return None
        for report in scan_feeds(self.workspace, now, urls=[url]):
            level = logging.WARNING if report.status == "error" else logging.INFO
            where = feed_key(url)
            log.log(level, "feed %s", report.status, extra=fields(feed=where, error=report.error))
            return report
        return None

    def queue_counts(self) -> dict[str, int]:
        with self.store.engine.connect() as connection:
            return outbox.counts(connection)

    def tick(self, job: str, work: Callable[[], Any], every: float | None = None) -> None:
        """Run one job (every `every` seconds): timed, recorded for `outreach status`, never
        raising."""
        started, began = self.clock(), time.monotonic()
        error: str | None = None
        result = None
        try:
            result = work()
        except StoreLost as exc:
            self.lost = str(exc)
            log.error("%s; the daemon stops", exc)
            self.stop.set()
            return
        except Exception as exc:
            error = self.channels.redact(f"{type(exc).__name__}: {exc}")
            log.exception("%s failed", job)
        seconds = time.monotonic() - began
        try:
            with self.store.transaction() as connection:
                daemons.record_tick(connection, job, started, seconds, error, every)
        except Exception:
            log.exception("cannot record the %s tick", job)
        if self.on_tick is not None:
            self.on_tick(job, seconds, result)

    def feeds(self) -> dict[str, float]:
        """Feed urls and their intervals in seconds."""
        from outreach.services.news import feed_sources

        sources, _ = feed_sources(self.workspace)
        return {source.url: source.every.total_seconds() for source in sources}

    def _with_news(self, workspace: Workspace) -> Workspace:
        if not workspace.watches_news:
            return workspace
        from outreach.services.news import mentions_for_planning

        return replace(
            workspace, data=with_mentions(workspace.data, mentions_for_planning(workspace))
        )


def files_stamp(root: Path, workspace: Workspace) -> Stamp:
    """What the daemon watches: (path, mtime, size) of every file it reads."""
    config = workspace.config
    data = [config.data.contacts, config.data.companies, config.data.purchases]
    data += [config.data.feeds, config.data.suppressions]
    paths = [root / CONFIG_FILE, *(root / p for p in data if p)]
    for folder in ("rules", "templates"):
        paths += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    stamp = []
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            continue
        stamp.append(
            (str(path), status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_mode)
        )
    return tuple(stamp)


CONFIG, AUTHORING = "config", "authoring"  # parts besides the data kinds (DATA_KINDS)


def changed_parts(before: Stamp, after: Stamp, root: Path, workspace: Workspace) -> set[str]:
    """What changed between two looks at the files: `config` (outreach.yaml), `authoring`
    (a rule or template file edited, added or removed) and each data kind by its file."""
    paths = {entry[0] for entry in set(before) ^ set(after)}
    kinds = {str(root / CONFIG_FILE): {CONFIG}}
    for kind, relative in data_files(workspace.config):
        kinds.setdefault(str(root / relative), set()).add(kind)
    folders = [root / "rules", root / "templates"]
    parts: set[str] = set()
    for path in paths:
        if any(Path(path).is_relative_to(folder) for folder in folders):
            parts.add(AUTHORING)
        else:  # a file not told apart is read with everything (never miss an opt-out)
            parts |= kinds.get(path, {CONFIG})
    return parts


def log_problems(workspace: Workspace) -> None:
    for problem in workspace.problems:
        log.log(logging.ERROR if problem.is_error else logging.WARNING, str(problem))
