"""Channels: where an outbox row goes. One seam, one module per kind.

    send(row) -> Delivery

A channel never raises for trouble on the other side: it says whether the row was `sent`
(with the provider's id), should be tried again later (`retry`, with how long the provider
asked to wait, if it did), or can never go (`dead`, with the provider's error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from outreach.adapters.store.outbox import OutboxRow

Outcome = Literal["sent", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None  # one line, for `history`; never a secret
    retry_after: float | None = None  # seconds the provider asked us to wait


class Channel(Protocol):
    def send(self, row: OutboxRow) -> Delivery: ...
