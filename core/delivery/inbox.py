"""The dev inbox: where a channel without credentials "sends", so a whole visit can be
followed on one machine (the console lists it)."""

from __future__ import annotations

import logging

from core.delivery import Outgoing, PermanentFailure, Receipt
from core.messages import sms_segments
from core.redact import redact
from core.storage import dev_inbox

log = logging.getLogger(__name__)


class DevInboxSender:
    async def send(self, message: Outgoing) -> Receipt:
        row = await dev_inbox.add(
            message.channel,
            message.recipient,
            message.text,
            [[{"label": b.label, "data": b.data} for b in row] for row in message.buttons],
            outbox_id=message.id,
        )
        # Masked: the full text is in the console's inbox, the log may travel further.
        log.info(
            "dev inbox: %s", redact(f"{message.channel} to {message.recipient}: {message.text}")
        )
        segments = sms_segments(message.text) if message.channel == "sms" else None
        return Receipt(f"inbox-{row.id}", delivered_to="dev_inbox", segments=segments)

    async def close(self) -> None:
        return None


class UnconfiguredSender:
    """Production without credentials for a channel: fail visibly, never pretend."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, message: Outgoing) -> Receipt:
        raise PermanentFailure(f"the {self.channel} channel has no credentials configured")

    async def close(self) -> None:
        return None
