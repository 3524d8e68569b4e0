"""A channel that keeps what it is given, in memory: for tests, and for trying a workspace
without sending anything. Scripted answers come first; then every message is `sent`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from outreach.adapters.channels import Delivery
from outreach.core.outgoing import Outgoing


class RecordingChannel:
    def __init__(self, answers: Iterable[Delivery] = ()) -> None:
        self.answers = deque(answers)
        self.sent: list[Outgoing] = []  # messages that were `sent`, in order
        self.tried: list[Outgoing] = []  # every message it was given

    def send(self, message: Outgoing) -> Delivery:
        self.tried.append(message)
        answer = self.answers.popleft() if self.answers else None
        if answer is None or answer.outcome == "sent":
            self.sent.append(message)
            return answer or Delivery("sent", provider_id=f"recorded-{len(self.sent)}")
        return answer

    @property
    def keys(self) -> list[str]:
        return [message.key for message in self.sent]
