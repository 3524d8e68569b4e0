"""A store in memory, in pure Python (`outreach.ports.Store`): for tests and trying things,
gone when the process ends. It keeps the SQL store's promises (tests/contract holds both to
them): an occurrence key is recorded once, a row moves only as `outreach.core.outbox.MOVES`
allows, a claim is exclusive. Units of work take turns (one lock, as SQLite's one writer) and
one that raises leaves everything as it found it. Times are kept as the SQL store keeps
them — UTC, to the second — so both answer alike."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from outreach.adapters.feeds.messages import feed_key
from outreach.adapters.processes import Worker
from outreach.adapters.store.daemons import FORGOTTEN, is_gone
from outreach.adapters.store.feeds import FEED_TURN_SHARE
from outreach.adapters.store.outbox import REPLACES_ERROR, gift_spend, payload_of
from outreach.adapters.store.unit import stored_values
from outreach.core.delivery import LONGEST_PAUSE, Step
from outreach.core.handles import digest
from outreach.core.model import Decision, FeedEntry, Mention
from outreach.core.outbox import (
    CANCELLABLE,
    COUNTED,
    DUE,
    FINAL,
    OPEN,
    RECORDED,
    OutboxRow,
    State,
    check_moves,
)
from outreach.core.policies import COUNTED_ACTIONS, GiftSpend, History
from outreach.core.records import Fallback, FeedState, Holder, Tick
from outreach.ports import Cursor


def stored(moment: datetime) -> datetime:
    """A time as a store keeps it: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else stored(moment)


def _mark(moment: datetime) -> str:  # a dispatch cursor's time, as the SQL store's
    return stored(moment).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Entry:
    entry: FeedEntry
    link_key: str
    first_seen: datetime


@dataclass
class _Data:
    """Everything the store holds; each table a dict of frozen values, so a copy of the
    dicts is a snapshot."""

    outbox: dict[str, OutboxRow] = field(default_factory=dict)
    pauses: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    lock: Holder | None = None
    workers: dict[str, Holder] = field(default_factory=dict)
    ticks: dict[str, Tick] = field(default_factory=dict)
    fallbacks: dict[str, Fallback] = field(default_factory=dict)
    feeds: dict[str, FeedState] = field(default_factory=dict)
    entries: dict[str, _Entry] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # link key -> entry id
    mentions: dict[tuple[str, str], Mention] = field(default_factory=dict)

    def copy(self) -> _Data:
        tables = {name: dict(value) for name, value in vars(self).items() if name != "lock"}
        return _Data(lock=self.lock, **tables)


class MemoryStore:
    shared = False  # one process: its daemon holds it alone

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self._data = _Data()
        self._turn = threading.RLock()

    def check_intact(self) -> None:
        return None  # nothing outside the process can take it away

    @contextmanager
    def unit(self) -> Iterator[MemoryUnit]:
        """A unit of work: kept when the block ends, undone when it raises."""
        with self._turn:
            before = self._data.copy()
            try:
                yield MemoryUnit(self._data)
            except BaseException:
                self._data.__dict__.update(before.__dict__)
                raise

    @contextmanager
    def view(self) -> Iterator[MemoryUnit]:
        """Reads; whatever is written here is undone, as in the SQL store's view."""
        with self._turn:
            before = self._data.copy()
            try:
                yield MemoryUnit(self._data)
            finally:
                self._data.__dict__.update(before.__dict__)


class MemoryUnit:
    def __init__(self, data: _Data) -> None:
        self.data = data

    # --- the outbox ---------------------------------------------------------------------

    def record(self, decisions: Iterable[Decision], now: datetime) -> list[Decision]:
        written = []
        for decision in decisions:
            status = RECORDED.get(decision.status)
            if status is None:
                continue
            row = _recorded(decision, status, now)
            there = self.data.outbox.get(decision.key)
            if there is None:
                self.data.outbox[row.key] = row
                written.append(decision)
            elif status in REPLACES_ERROR and there.status is State.ERROR:
                check_moves([State.ERROR], status)
                if status is not State.ERROR or there.payload != row.payload:
                    self.data.outbox[row.key] = _replanned(there, row)
                    written.append(decision)
        return written

    def forget_errors(
        self,
        recorded: Collection[str],
        planned: Collection[str],
        rules: Collection[str],
        now: datetime,
    ) -> int:
        moment = stored(now)
        gone = [
            row.key
            for row in self._where(statuses=[State.ERROR])
            if row.rule_id in rules
            and row.key not in recorded
            and (row.key in planned or row.deadline is None or row.deadline > moment)
        ]
        for key in gone:
            del self.data.outbox[key]
        return len(gone)

    def keys(self) -> frozenset[str]:
        return frozenset(row.key for row in self.data.outbox.values() if row.status != State.ERROR)

    def history(self) -> History:
        return History(recorded=self.keys(), sends=self.counted_sends(), gifts=self.gifts())

    def settled_history(self) -> tuple[History, dict[str, str]]:
        counted = (State.SENDING, State.SENT, State.AMBIGUOUS)
        history = History(
            recorded=frozenset(row.key for row in self._where(statuses=FINAL)),
            sends=self.counted_sends(counted),
            gifts=self.gifts(counted),
        )
        return history, {row.key: row.status for row in self._where(statuses=OPEN)}

    def counted_sends(
        self, statuses: Iterable[State] | None = None
    ) -> dict[str, tuple[datetime, ...]]:
        sends: dict[str, list[datetime]] = {}
        for row in self._where(statuses=COUNTED if statuses is None else statuses):
            if row.action in COUNTED_ACTIONS:
                sends.setdefault(row.contact_id, []).append(row.send_at)
        return {contact: tuple(times) for contact, times in sends.items()}

    def gifts(self, statuses: Iterable[State] | None = None) -> tuple[GiftSpend, ...]:
        rows = self._where(statuses=COUNTED if statuses is None else statuses)
        found = (gift_spend(r.rule_id, r.contact_id, r.payload) for r in rows if r.action == "gift")
        return tuple(spend for spend in found if spend is not None)

    def fingerprint(self) -> tuple[int, int]:
        rows = self.data.outbox.values()
        return len(rows), sum(1 for row in rows if row.status in COUNTED)

    def lock_planning(self) -> None:
        return None  # units take turns already

    def rows(
        self,
        statuses: Iterable[State] | None = None,
        contact_id: str | None = None,
        rule_id: str | None = None,
    ) -> list[OutboxRow]:
        found = self._where(statuses, contact_id, rule_id)
        return sorted(found, key=lambda row: (row.send_at, row.rule_id, row.contact_id))

    def _where(
        self,
        statuses: Iterable[State] | None = None,
        contact_id: str | None = None,
        rule_id: str | None = None,
    ) -> list[OutboxRow]:
        wanted = None if statuses is None else set(statuses)
        return [
            row
            for row in self.data.outbox.values()
            if (wanted is None or row.status in wanted)
            and (contact_id is None or row.contact_id == contact_id)
            and (rule_id is None or row.rule_id == rule_id)
        ]

    def get(self, key: str) -> OutboxRow | None:
        return self.data.outbox.get(key)

    def counts(self) -> dict[str, int]:
        return dict(Counter(row.status.value for row in self.data.outbox.values()))

    def move(
        self,
        key: str,
        from_statuses: Iterable[State],
        to_status: State,
        now: datetime,
        **values: object,
    ) -> bool:
        from_statuses = list(from_statuses)
        check_moves(from_statuses, to_status)
        stored_values(values)  # the same fields as the SQL store allows
        changes = {k: _maybe(v) if isinstance(v, datetime) else v for k, v in values.items()}
        row = self.data.outbox.get(key)
        if row is None or row.status not in from_statuses:
            return False
        moved = replace(row, status=to_status, updated_at=stored(now), **changes)  # type: ignore[arg-type]
        self.data.outbox[key] = moved
        return True

    def postpone(self, key: str, until: datetime, now: datetime) -> bool:
        return self.move(key, [State.PENDING], State.PENDING, now, send_at=until)

    def upcoming(self, now: datetime) -> dict[str, tuple[datetime, ...]]:
        moments: dict[str, list[datetime]] = {}
        for row in self._where(statuses=DUE):
            moment = row.send_at if row.status is State.PENDING else row.next_attempt_at
            if moment is not None:
                moments.setdefault(row.channel, []).append(moment)
        found = {}
        for channel, times in moments.items():
            later = [t for t in times if t > stored(now)]
            found[channel] = (min(times), *([min(later)] if later else []))
        return found

    def claim(
        self, key: str, now: datetime, worker: str, wall: datetime | None = None
    ) -> OutboxRow | None:
        check_moves(DUE, State.SENDING)
        row = self.data.outbox.get(key)
        if row is None or not _is_due(row, stored(now), stored(wall or now)):
            return None
        return self._claimed(row, worker, stored(wall or now))

    def _claimed(self, row: OutboxRow, worker: str, moment: datetime) -> OutboxRow:
        taken = replace(row, status=State.SENDING, claimed_by=worker, updated_at=moment)
        self.data.outbox[row.key] = taken
        return taken

    def claim_due(
        self,
        channel: str,
        now: datetime,
        worker: str,
        limit: int,
        after: Cursor | None = None,
        wall: datetime | None = None,
    ) -> tuple[list[OutboxRow], Cursor | None]:
        check_moves(DUE, State.SENDING)
        due_at, moment = stored(now), stored(wall or now)
        due = sorted(
            (
                (_mark(row.send_at), row.key)
                for row in self.data.outbox.values()
                if row.channel == channel and _is_due(row, due_at, moment)
            ),
        )
        picked = [place for place in due if after is None or place > after][: max(limit, 0)]
        claimed = [self._claimed(self.data.outbox[key], worker, moment) for _, key in picked]
        return claimed, (picked[-1] if picked else after)

    def finish(self, row: OutboxRow, step: Step, now: datetime) -> bool:
        check_moves([State.SENDING], step.status)
        current = self._ours(row)
        if current is None:
            return False
        provider = step.provider_id if step.delivered else None
        self.data.outbox[row.key] = replace(
            current,
            status=step.status,
            updated_at=stored(now),
            attempts=step.attempts,
            doubtful=step.doubtful,
            last_error=step.error,
            next_attempt_at=_maybe(step.next_attempt_at),
            provider_id=provider if provider is not None else current.provider_id,
            sent_at=stored(now) if step.delivered else current.sent_at,
            claimed_by=None,
        )
        return True

    def _ours(self, row: OutboxRow) -> OutboxRow | None:
        """The row as stored, if it is still claimed by whoever claimed `row`."""
        current = self.data.outbox.get(row.key)
        if current is None or current.status is not State.SENDING:
            return None
        return current if current.claimed_by == row.claimed_by else None

    def readdress(self, row: OutboxRow, to: str, now: datetime) -> OutboxRow:
        payload = {**row.payload, "details": {**row.payload["details"], "to": to}}
        current = self._ours(row)
        if current is not None:
            readdressed = replace(current, payload=payload, updated_at=stored(now))
            self.data.outbox[row.key] = readdressed
        return replace(row, payload=payload)

    def release(self, row: OutboxRow, back_to: State, now: datetime) -> bool:
        check_moves([State.SENDING], back_to)
        current = self._ours(row)
        if current is None:
            return False
        released = replace(current, status=back_to, updated_at=stored(now), claimed_by=None)
        self.data.outbox[row.key] = released
        return True

    def pause(self, channel: str, until: datetime, reason: str) -> None:
        self.data.pauses[channel] = (stored(until), reason)

    def pauses(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        return {
            channel: (until, why)
            for channel, (until, why) in self.data.pauses.items()
            if now < until <= now + LONGEST_PAUSE
        }

    def open_rules(self) -> set[str]:
        return {row.rule_id for row in self._where(statuses=CANCELLABLE)}

    def cancel_rules(self, rules: Iterable[str], now: datetime) -> dict[str, int]:
        check_moves(CANCELLABLE, State.CANCELLED)
        cancelled: dict[str, int] = {}
        for rule_id in sorted(rules):
            why = f"rule {rule_id} was removed from the workspace"
            for row in self._where(statuses=CANCELLABLE, rule_id=rule_id):
                done = replace(row, status=State.CANCELLED, updated_at=stored(now), last_error=why)
                self.data.outbox[row.key] = done
                cancelled[rule_id] = cancelled.get(rule_id, 0) + 1
        return cancelled

    def digests_beside(self, mine: str) -> list[str]:
        ordered = self.every_digest()
        below = [d for d in ordered if d < mine]
        above = [d for d in ordered if d > mine]
        return [d for d in (below[-1] if below else None, above[0] if above else None) if d]

    def every_digest(self) -> list[str]:
        return sorted(digest(key) for key in self.data.outbox)

    def digests_from(self, prefix: str, limit: int = 20) -> dict[str, str]:
        found = sorted((digest(key), key) for key in self.data.outbox)
        chosen = [(mine, key) for mine, key in found if mine.startswith(prefix)][:limit]
        return {key: mine for mine, key in chosen}

    # --- the daemons --------------------------------------------------------------------

    def holder(self) -> Holder | None:
        return self.data.lock

    def acquire(self, me: Worker, now: datetime) -> Holder | None:
        current = self.data.lock
        if current is not None and not is_gone(current, me, stored(now)):
            return current
        self.data.lock = Holder(str(me), stored(now), stored(now))
        return None

    def beat(self, me: Worker, now: datetime) -> bool:
        current = self.data.lock
        if current is None or current.holder != str(me):
            return False
        self.data.lock = replace(current, heartbeat_at=stored(now))
        return True

    def release_daemon(self, me: Worker) -> None:
        if self.data.lock is not None and self.data.lock.holder == str(me):
            self.data.lock = None
        self.data.workers.pop(str(me), None)
        self.recover()  # what a stopped daemon ran on is no longer so

    def register(self, me: Worker, now: datetime) -> None:
        since = stored(now) - FORGOTTEN
        for name, listed in list(self.data.workers.items()):
            if listed.heartbeat_at < since:
                del self.data.workers[name]
        self.data.workers[str(me)] = Holder(str(me), stored(now), stored(now))

    def beat_registered(self, me: Worker, now: datetime) -> None:
        listed = self.data.workers.get(str(me))
        if listed is not None:
            self.data.workers[str(me)] = replace(listed, heartbeat_at=stored(now))

    def registered(self) -> list[Holder]:
        return sorted(self.data.workers.values(), key=lambda holder: holder.started_at)

    def record_tick(
        self, job: str, started: datetime, seconds: float, error: str | None, every: float | None
    ) -> None:
        self.data.ticks[job] = Tick(job, stored(started), seconds, error, every)

    def last_ticks(self) -> list[Tick]:
        return [self.data.ticks[job] for job in sorted(self.data.ticks)]

    def fall_back(self, topic: str, now: datetime, reason: str) -> None:
        noted = self.data.fallbacks.get(topic)
        since = noted.since if noted is not None else stored(now)
        self.data.fallbacks[topic] = Fallback(topic, since, reason)

    def recover(self, topics: tuple[str, ...] = ("rules", "config")) -> None:
        for topic in topics:
            self.data.fallbacks.pop(topic, None)

    def fallbacks_now(self) -> list[Fallback]:
        return [self.data.fallbacks[topic] for topic in sorted(self.data.fallbacks)]

    # --- feeds --------------------------------------------------------------------------

    def take_feed_turn(self, url: str, now: datetime, every: timedelta) -> bool:
        key = feed_key(url)
        state = self.data.feeds.setdefault(key, FeedState(key))
        since = stored(now - every * FEED_TURN_SHARE)
        if state.last_fetch is not None and state.last_fetch > since:
            return False
        self.data.feeds[key] = replace(state, last_fetch=stored(now))
        return True

    def feed_state(self, url: str) -> FeedState | None:
        return self.data.feeds.get(feed_key(url))

    def feeds(self) -> list[FeedState]:
        return list(self.data.feeds.values())

    def record_fetch(
        self,
        url: str,
        when: datetime,
        status: str,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        new_entries: int = 0,
    ) -> None:
        key = feed_key(url)
        state = self.data.feeds.get(key) or FeedState(key)
        seen = state.entries_seen + new_entries if key in self.data.feeds else new_entries
        state = replace(
            state, last_fetch=stored(when), last_status=status, last_error=error, entries_seen=seen
        )
        if status == "fetched":
            state = replace(state, etag=etag, last_modified=last_modified)
        self.data.feeds[key] = state

    def add_entries(
        self, found: Iterable[tuple[FeedEntry, str]], feed_url: str, language: str, when: datetime
    ) -> list[FeedEntry]:
        new = []
        for entry, link_key in found:
            if entry.id in self.data.entries or (link_key and link_key in self.data.links):
                continue
            kept = replace(entry, published=_maybe(entry.published))
            self.data.entries[entry.id] = _Entry(kept, link_key, stored(when))
            if link_key:
                self.data.links[link_key] = entry.id
            new.append(entry)
        return new

    def known_entries(self, ids: Sequence[str], link_keys: Sequence[str]) -> set[str]:
        # Like the SQL store: every entry found by either, with its id and its link key.
        found = {entry_id for entry_id in ids if entry_id in self.data.entries}
        found |= {self.data.links[key] for key in link_keys if key and key in self.data.links}
        return {
            value
            for entry_id in found
            for value in (entry_id, self.data.entries[entry_id].link_key)
            if value
        }

    def add_mentions(self, found: Iterable[Mention], when: datetime) -> None:
        for mention in found:
            if mention.entry.id not in self.data.entries:
                raise ValueError(f"a mention of entry {mention.entry.id}, which is not stored")
            place = (mention.entry.id, mention.company_id)
            self.data.mentions.setdefault(place, replace(mention, found=stored(when)))

    def mentions(self) -> list[Mention]:
        found = []
        for (entry_id, _), mention in self.data.mentions.items():
            kept = self.data.entries[entry_id]
            entry = replace(kept.entry, published=kept.entry.published or kept.first_seen)
            found.append(replace(mention, entry=entry, moves=False))
        return found


def _is_due(row: OutboxRow, due_at: datetime, wall: datetime) -> bool:
    if row.status is State.PENDING:
        return row.send_at <= due_at
    moment = row.next_attempt_at
    return row.status is State.FAILED and moment is not None and moment <= wall


def _replanned(error: OutboxRow, new: OutboxRow) -> OutboxRow:
    """An `error` row, with what its decision is now (what a person or a channel noted on
    it stays)."""
    return replace(
        error,
        rule_id=new.rule_id,
        contact_id=new.contact_id,
        action=new.action,
        channel=new.channel,
        status=new.status,
        send_at=new.send_at,
        deadline=new.deadline,
        payload=new.payload,
        timezone=new.timezone,
        attempts=0,
        updated_at=new.updated_at,
    )


def _recorded(decision: Decision, status: State, now: datetime) -> OutboxRow:
    """The row a decision makes, as the SQL store would read it back (its payload through
    JSON: amounts as text)."""
    text = json.dumps(payload_of(decision), ensure_ascii=False, default=str)
    payload: dict[str, Any] = json.loads(text)
    return OutboxRow(
        key=decision.key,
        rule_id=decision.rule_id,
        contact_id=decision.contact_id,
        action=decision.action,
        channel=decision.channel,
        status=status,
        send_at=stored(decision.send_at),
        payload=payload,
        attempts=0,
        provider_id=None,
        last_error=None,
        updated_at=stored(now),
        deadline=_maybe(decision.deadline),
        timezone=getattr(decision.send_at.tzinfo, "key", None),
    )
