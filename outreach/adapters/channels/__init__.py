"""Channels: where an outgoing message goes. One seam, one module per kind.

    send(message: Outgoing) -> Delivery   (outreach.core.outgoing, outreach.core.delivery)

A channel is handed the typed message built from an outbox row, never the row.

A channel never raises for trouble on the other side: it says whether the message was `sent`
(with the provider's id), should be tried again later (`retry`, saying how long the provider
asked to wait and whether the provider may have it anyway), can never go (`dead`, with the
provider's error), or whether the channel as a whole refused us (`paused`, e.g. a bad key).

A channel whose receiver can be read back (the JSONL file) also answers `confirm(message)`:
whether a message interrupted mid-send arrived, so it is neither lost nor sent twice; and
`unwritable()`: why it could not take a row now (for `outreach status`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from outreach.core.delivery import Delivery
from outreach.core.outgoing import Outgoing

__all__ = ["Channel", "Confirming", "Delivery", "Outgoing", "Probing"]


class Channel(Protocol):
    def send(self, message: Outgoing) -> Delivery: ...


@runtime_checkable
class Confirming(Protocol):
    def confirm(self, message: Outgoing) -> bool | None:
        """Did this message arrive? None when it cannot be told."""
        ...


@runtime_checkable
class Probing(Protocol):
    def unwritable(self) -> str | None:
        """Why nothing could be delivered now (the sink cannot be written), or None; a look
        only, nothing is sent or created."""
        ...
