"""Who holds a claim: a dispatcher names itself host:pid:token, so a row left in `sending`
can be told apart as in flight (its process lives) or orphaned (it died)."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

# A claim older than this is orphaned whoever holds it: longer than any send may take (the
# dispatcher gives up on a channel after 3 × its timeout + 5 s, and timeouts are at most
# 300 s), so a slow send is never mistaken for a dead one.
LEASE = timedelta(minutes=16)


@dataclass(frozen=True, slots=True)
class Worker:
    host: str
    pid: int
    token: str  # tells this process from an earlier one that had the same pid

    @classmethod
    def current(cls) -> Worker:
        return cls(socket.gethostname(), os.getpid(), secrets.token_hex(4))

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    def orphaned(self, claimed_by: str | None, claimed_at: datetime, now: datetime) -> bool:
        """Is a claim by `claimed_by` left over from a dispatcher that is gone? Told at once on
        this machine (its process is gone); after LEASE anywhere (a pid may be reused)."""
        if now - claimed_at > LEASE:
            return True
        parts = (claimed_by or "").rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        host, pid, token = parts[0], int(parts[1]), parts[2]
        if host != self.host:
            return False
        if pid == self.pid:
            return token != self.token  # that pid is ours now: its owner is gone
        return not process_alive(pid)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers kill(0) (Linux only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
