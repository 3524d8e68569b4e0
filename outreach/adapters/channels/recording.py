"""A channel that keeps what it is given, in memory: for tests, and for trying a workspace
without sending anything. Scripted answers come first; then every row is `sent`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from outreach.adapters.channels import Delivery
from outreach.adapters.store.outbox import OutboxRow


class RecordingChannel:
    def __init__(self, answers: Iterable[Delivery] = ()) -> None:
        self.answers = deque(answers)
        self.sent: list[OutboxRow] = []  # rows that were `sent`, in order
        self.tried: list[OutboxRow] = []  # every row it was given

    def send(self, row: OutboxRow) -> Delivery:
        self.tried.append(row)
        answer = self.answers.popleft() if self.answers else None
        if answer is None or answer.outcome == "sent":
            self.sent.append(row)
            return answer or Delivery("sent", provider_id=f"recorded-{len(self.sent)}")
        return answer

    @property
    def keys(self) -> list[str]:
        return [row.key for row in self.sent]
