"""The stored side of staff alerts and daily summaries: their state, read and changed in a
transaction holding the queue row's lock, the staff chats they go to, and their outbox rows
(messages to a staff chat: no ticket, worded when sent by `core.delivery.wording`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from core.domain.alerts import Episode
from core.domain.notify import Channel, DeliveryStatus
from core.storage import command_sql
from core.storage.errors import NotFound
from core.storage.models import (
    DailyReportRow,
    OutboxMessage,
    StaffAccount,
    StaffAlertRow,
)


async def linked_accounts() -> list[StaffAccount]:
    """Every active account with a linked Telegram chat (`/link`)."""
    return await StaffAccount.filter(is_active=True, telegram_chat_id__isnull=False).order_by("id")


async def queues_in_episode() -> list[str]:
    """The codes of the queues with an alert whose condition held when last looked at:
    looked at again even with nobody in line, so their episodes can end."""
    rows = await StaffAlertRow.filter(since__isnull=False).values_list("queue__code", flat=True)
    return sorted({str(code) for code in rows})


async def report_sent(code: str, day: date) -> bool:
    """Whether the queue's summary of `day` was sent (a read without the lock: the claim
    under it decides)."""
    return await DailyReportRow.exists(queue__code=code, day=day)


class LockedQueue:
    """One transaction holding a queue's row lock (PostgreSQL; SQLite's transactions are
    serial), in which its alert states are read and written and its staff messages queued."""

    def __init__(self, conn: BaseDBAsyncClient, queue_id: int, now: datetime) -> None:
        self.conn, self.queue_id, self.now = conn, queue_id, now

    async def episodes(self) -> dict[str, Episode]:
        rows = await StaffAlertRow.filter(queue_id=self.queue_id).using_db(self.conn)
        return {r.subject: Episode(r.since, r.alerted) for r in rows}

    async def store(self, episodes: Mapping[str, Episode], before: Mapping[str, Episode]) -> None:
        """Writes the episodes that changed since `before` (as `episodes()` read them)."""
        for subject, episode in episodes.items():
            if before.get(subject, Episode()) == episode:
                continue
            updated = await (
                StaffAlertRow.filter(queue_id=self.queue_id, subject=subject)
                .using_db(self.conn)
                .update(since=episode.since, alerted=episode.alerted, updated_at=self.now)
            )
            if not updated:
                await StaffAlertRow.create(
                    queue_id=self.queue_id,
                    subject=subject,
                    since=episode.since,
                    alerted=episode.alerted,
                    updated_at=self.now,
                    using_db=self.conn,
                )

    async def claim_report(self, day: date, chats: int) -> bool:
        """Records the day's summary as sent; False when it was already."""
        found = DailyReportRow.filter(queue_id=self.queue_id, day=day).using_db(self.conn)
        if await found.exists():
            return False
        await DailyReportRow.create(
            queue_id=self.queue_id, day=day, sent_at=self.now, chats=chats, using_db=self.conn
        )
        return True

    async def queue_staff_messages(
        self, kind: str, chat_ids: Iterable[int], payload: dict[str, Any], key: str
    ) -> int:
        """One outbox row per chat, of `kind`, worded when it is sent; `key` makes each
        (with the chat) unique, so a message cannot be queued twice."""
        count = 0
        for chat_id in chat_ids:
            await OutboxMessage.create(
                id=str(uuid.uuid4()),
                idempotency_key=f"{kind}:{key}:{chat_id}"[:160],
                channel=Channel.TELEGRAM.value,
                recipient=str(chat_id),
                kind=kind,
                payload=payload,
                urgent=False,
                status=DeliveryStatus.QUEUED.value,
                attempts=0,
                next_attempt_at=self.now,
                created_at=self.now,
                using_db=self.conn,
            )
            count += 1
        return count


@asynccontextmanager
async def locked_queue(code: str, now: datetime) -> AsyncIterator[LockedQueue]:
    """A transaction holding the queue's row lock, as a command's does."""
    async with in_transaction() as conn:
        found = await command_sql.queue_rows(conn, code, lock=True)
        if found is None:
            raise NotFound("queue", code)
        yield LockedQueue(conn, found[0].id, now)
