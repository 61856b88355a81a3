"""Patient data kept only as long as it serves: the retention purge (on demand, and daily
in one process at a time), and a person's access and erasure requests.

Every run and request is written to the privacy log (who, when, what kinds and how many
rows), never whose data it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain.errors import InvalidValue
from core.domain.model import Ticket, TicketAction
from core.domain.notify import patient_channel
from core.phones import normalize_phone
from core.services.queues import Clock, QueueService
from core.storage import consents, erasure, privacy_log, retention, subjects
from core.storage.erasure import BATCH, Counts
from core.storage.models import ConsentRow

log = logging.getLogger(__name__)

PURGE_JOB = "retention_purge"
PURGE_LEASE_S = 300.0
"""How long a purging process holds the job between batches; a process that died gives it
up after this."""
DAILY_CHECK_S = 3600.0
"""How often each process asks whether the day's purge is due; one takes it."""
FIRST_CHECK_S = 60.0
"""Not while a process is starting: its first check comes a minute after."""
SENT_WAIT_S = 20.0
"""How long an erasure waits for the cancellation message to go; one still unsent then is
erased by the next purge once it is sent."""
RETENTION_ACTOR = "system:retention"
DAY = timedelta(days=1)
Select = Callable[[datetime, int], Awaitable[Sequence[Any]]]
"""The ids of at most so many rows of one kind to erase, older than the cutoff."""
Erase = Callable[[Any], Awaitable[Counts]]


@dataclass(frozen=True)
class Subject:
    """The person a request is about, named by their phone number or Telegram chat id."""

    kind: str
    """`phone` or `telegram_chat_id`."""
    address: str

    @classmethod
    def of(
        cls, phone: str | None, telegram_chat_id: int | str | None, region: str | None = None
    ) -> Subject:
        if (phone is None) == (telegram_chat_id is None):
            raise InvalidValue("name the person by a phone number or a Telegram chat id (one)")
        if phone is not None:
            return cls("phone", normalize_phone(phone, region))
        try:
            return cls("telegram_chat_id", str(int(str(telegram_chat_id))))
        except ValueError:
            raise InvalidValue(f"{telegram_chat_id!r} is not a Telegram chat id") from None

    @property
    def channel(self) -> str:
        return "sms" if self.kind == "phone" else "telegram"

    @property
    def holder(self) -> dict[str, Any]:
        """The ticket columns that name the person."""
        if self.kind == "phone":
            return {"phone": self.address}
        return {"telegram_chat_id": int(self.address)}


class PrivacyService:
    def __init__(self, queues: QueueService, clock: Clock, retention_days: int) -> None:
        self.queues = queues
        self.clock = clock
        self.retention_days = retention_days
        self.process_id = str(uuid.uuid4())

    # -- retention -------------------------------------------------------------------------

    async def purge(
        self, days: int | None = None, dry_run: bool = False, actor: str = RETENTION_ACTOR
    ) -> Counts:
        """Erases the personal data of what ended more than `days` (the configured retention
        by default) ago, batch by batch; returns how many rows of each kind went. Waits for
        a purge running in another process to end first, so each row is erased once."""
        now = self.clock()
        cutoff = now - timedelta(days=self.retention_days if days is None else days)
        if dry_run:
            return await retention.expired_counts(cutoff)
        while not await retention.take_lease(PURGE_JOB, self.process_id, now, PURGE_LEASE_S):
            await asyncio.sleep(0.5)
            now = self.clock()
        try:
            counts = await self._purge_batches(cutoff)
        finally:
            await retention.release_lease(PURGE_JOB, self.process_id, None)
        await privacy_log.add("purge", actor, self.clock(), None, counts)
        return counts

    async def purge_if_due(self) -> Counts | None:
        """The daily purge, if no process has done it in the last day and none is doing it
        now; None when another process has it."""
        now = self.clock()
        taken = await retention.take_lease(
            PURGE_JOB, self.process_id, now, PURGE_LEASE_S, done_before=now - DAY
        )
        if not taken:
            return None
        done_at = None
        try:
            counts = await self._purge_batches(now - timedelta(days=self.retention_days))
            done_at = now
        finally:
            await retention.release_lease(PURGE_JOB, self.process_id, done_at)
        await privacy_log.add("purge", RETENTION_ACTOR, self.clock(), None, counts)
        return counts

    async def _purge_batches(self, cutoff: datetime) -> Counts:
        counts: Counts = Counter()
        steps: list[tuple[Select, Erase]] = [
            (retention.expired_ticket_ids, lambda ids: erasure.erase_tickets(ids, self.clock())),
            (retention.sent_unerased_ids, erasure.erase_messages),
            (retention.stray_message_ids, erasure.erase_messages),
            (retention.old_dev_inbox_ids, _counted("dev_inbox", erasure.delete_dev_inbox)),
            (retention.old_history_ids, _counted("consents", erasure.delete_consents)),
            (retention.stale_contact_ids, erasure.forget_contacts),
        ]
        for select, erase in steps:
            while ids := await select(cutoff, BATCH):
                done = await erase(ids)
                counts += done
                if not await retention.renew_lease(
                    PURGE_JOB, self.process_id, self.clock(), PURGE_LEASE_S
                ):
                    log.warning("the purge's lease was taken over; this process stops")
                    return counts
                if len(ids) < BATCH:
                    break
        return +counts

    async def purge_daily_forever(
        self, interval_s: float = DAILY_CHECK_S, first_s: float = FIRST_CHECK_S
    ) -> None:
        """In every serving and worker process: one of them purges once a day."""
        await asyncio.sleep(first_s)
        while True:
            try:
                counts = await self.purge_if_due()
                if counts is not None:
                    log.info("retention purge: %s", describe(counts))
            except Exception:
                # A failed run (database restarting) must not end the loop; the lease runs
                # out and the next check tries again.
                log.exception("retention purge failed; trying again in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    async def consent_record(self, ticket: Ticket) -> list[ConsentRow]:
        """How the ticket's patient asked to be messaged, and their opt-outs and opt-ins on
        the channel they are messaged on; oldest first."""
        reached = patient_channel(ticket)
        channel, address = (reached[0].value, reached[1]) if reached else (None, None)
        return await consents.of_ticket(ticket.id, channel, address)

    # -- requests --------------------------------------------------------------------------

    async def export(self, subject: Subject, actor: str) -> dict[str, Any]:
        """Everything held about the person, as JSON-ready values."""
        channel, address = subject.channel, subject.address
        tickets = await subjects.tickets(await subjects.ticket_ids(subject.holder))
        stray = await subjects.stray_messages(channel, address)
        held = {
            "subject": {subject.kind: address},
            "exported_at": self.clock(),
            "tickets": tickets,
            "messages_without_ticket": stray,
            "dev_inbox": await subjects.dev_inbox(channel, address),
            "contact": await subjects.contact(channel, address),
            "opt_out_history": await subjects.consent_history(channel, address),
        }
        messages = sum(len(t["messages"]) for t in tickets) + len(stray)
        counts: Counts = Counter(tickets=len(tickets), messages=messages)
        await privacy_log.add("export", actor, self.clock(), subject.kind, +counts)
        exported: dict[str, Any] = json.loads(json.dumps(held, default=str))
        return exported

    async def erase(self, subject: Subject, actor: str, sent_wait_s: float = SENT_WAIT_S) -> Counts:
        """Erases the person's data now. A live ticket is cancelled first, and its patient
        told: the message gets `sent_wait_s` to go (a dispatcher sends it); if it has not
        gone by then, it is counted `unsent` and erased by the next purge after it goes."""
        counts: Counts = Counter()
        live = await subjects.ticket_ids(subject.holder, live_only=True)
        for ticket_id in live:
            await self.queues.ticket_action(ticket_id, TicketAction.CANCEL, actor)
        counts["cancelled"] = len(live)
        await self._until_sent(live, sent_wait_s)
        ids = await subjects.ticket_ids(subject.holder)
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            counts += await erasure.erase_tickets(batch, self.clock(), keep_unsent=True)
        channel, address = subject.channel, subject.address
        counts += await erasure.erase_messages(await subjects.stray_message_ids(channel, address))
        counts["dev_inbox"] += await erasure.delete_dev_inbox(
            await subjects.dev_inbox_ids(channel, address)
        )
        counts["consents"] += await erasure.delete_consents(
            await subjects.consent_history_ids(channel, address, ids)
        )
        counts += await erasure.forget_contacts(await subjects.contact_ids(channel, address))
        counts = +counts
        await privacy_log.add("erase", actor, self.clock(), subject.kind, counts)
        return counts

    async def _until_sent(self, ticket_ids: list[str], wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while ticket_ids and await subjects.pending_messages(ticket_ids):
            if loop.time() > deadline:
                log.warning("erasing with messages still unsent after %.0f s", wait_s)
                return
            await asyncio.sleep(0.2)


def _counted(kind: str, delete: Any) -> Any:
    async def erase(ids: list[int]) -> Counts:
        return Counter({kind: await delete(ids)})

    return erase


def describe(counts: Counts) -> str:
    """`tickets 3, messages 12`; `nothing` when empty."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()) if n) or "nothing"
