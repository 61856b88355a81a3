"""The dev inbox's table: what channels without credentials "sent" (the dispatcher's dev
sender and the local Bot API write it; the console's inbox page reads it)."""

from __future__ import annotations

from typing import Any

from core.storage.models import DevInboxMessage, OutboxMessage, TicketRow

Buttons = list[list[dict[str, str]]]


async def add(
    channel: str,
    recipient: str,
    text: str,
    buttons: Buttons | None = None,
    outbox_id: str | None = None,
) -> DevInboxMessage:
    return await DevInboxMessage.create(
        channel=channel, recipient=recipient, text=text, buttons=buttons or [], outbox_id=outbox_id
    )


async def telegram_message(message_id: int, recipient: str | None = None) -> DevInboxMessage | None:
    """A Telegram message by its id; in that chat alone when `recipient` is given."""
    chat: dict[str, Any] = {} if recipient is None else {"recipient": recipient}
    return await DevInboxMessage.get_or_none(id=message_id, channel="telegram", **chat)


async def edit(row: DevInboxMessage, text: str, buttons: Buttons) -> None:
    row.text, row.buttons = text, buttons
    await row.save(update_fields=["text", "buttons"])


async def delete(message_id: int, recipient: str) -> None:
    await DevInboxMessage.filter(id=message_id, recipient=recipient).delete()


def _matching(term: str) -> Any:
    query = DevInboxMessage.all()
    return query.filter(recipient__icontains=term) if term else query


async def newest_id(term: str) -> int:
    """The id of the newest message to a recipient containing `term` (any: ""); 0 if none."""
    ids = await _matching(term).order_by("-id").limit(1).values_list("id", flat=True)
    return int(ids[0]) if ids else 0


async def newest(term: str, before: int | None, limit: int) -> list[DevInboxMessage]:
    """Messages to recipients containing `term`, newest first, older than `before` if given."""
    query = _matching(term)
    if before is not None:
        query = query.filter(id__lt=before)
    return list(await query.order_by("-id").limit(limit))


async def texts_after(channel: str, recipient: str, after_id: int) -> list[str]:
    """What was sent to the recipient after message `after_id`, in order."""
    texts = (
        await DevInboxMessage.filter(channel=channel, recipient=recipient, id__gt=after_id)
        .order_by("id")
        .values_list("text", flat=True)
    )
    return [str(t) for t in texts]


async def outbox_records(outbox_ids: list[str]) -> dict[str, dict[str, Any]]:
    """`ticket_id` and `kind` of each outbox message, by id."""
    rows = await OutboxMessage.filter(id__in=outbox_ids).values("id", "ticket_id", "kind")
    return {r["id"]: r for r in rows}


async def ticket_numbers(ticket_ids: set[str]) -> dict[str, dict[str, Any]]:
    """`number` and `token` of each ticket, by id."""
    rows = await TicketRow.filter(id__in=ticket_ids).values("id", "number", "token")
    return {t["id"]: t for t in rows}
