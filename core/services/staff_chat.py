"""Staff at a counter working from a chat: link the chat to an account with a one-time
code, then call, recall, mark no-shows and finish visits without opening the console."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.broadcast import Audience
from core.domain.model import Ticket, TicketAction
from core.services.accounts import actor, require_queue
from core.services.errors import (
    AccountDisabled,
    NoCounters,
    NoQueueChosen,
    NothingCalled,
    UnknownLinkCode,
)
from core.services.queues import BroadcastSent, QueueService, QueueStatus
from core.storage import accounts as stored
from core.storage import ticket_reads
from core.storage.errors import NotFound
from core.storage.models import StaffAccount

LINK_CODE_TTL = timedelta(minutes=10)
LINK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I/L: codes are read off a screen and typed on a phone."""
LINK_CODE_LENGTH = 8


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def issue_link_code(name: str, now: datetime) -> str:
    account = await stored.by_name(name, active_only=True)
    if account is None:
        raise NotFound("account", name)
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    await stored.add_link_code(account, _digest(code), now + LINK_CODE_TTL)
    return code


async def link_chat(code: str, chat_id: int, user_id: int, now: datetime) -> StaffAccount:
    """Uses the code once; the chat (a private one: the bot checks) then acts as the account
    (and no other account), for the Telegram user who sent the code alone."""
    account = await stored.link_chat(_digest(code), chat_id, user_id, now)
    if account is None:
        raise UnknownLinkCode()
    if not account.is_active:
        raise AccountDisabled()
    return account


async def account_for_chat(chat_id: int, user_id: int | None) -> StaffAccount | None:
    """The account linked to the chat, when the message comes from the user who linked it."""
    if user_id is None:
        return None
    return await stored.by_chat(chat_id, user_id)


@dataclass(frozen=True)
class Called:
    ticket: Ticket
    queue: str
    counter: str


class StaffChat:
    def __init__(self, queues: QueueService) -> None:
        self.queues = queues

    async def call_next(
        self, account: StaffAccount, code: str | None = None, counter: str | None = None
    ) -> Called:
        """Remembers the queue and counter, so a plain `/next` goes on from there."""
        code = (code or account.last_queue or "").upper()
        if not code:
            raise NoQueueChosen("say which queue first, e.g. /next PHARM 1")
        require_queue(account, code)
        info = await self.queues.get_queue(code)
        if counter is None:
            same_queue = code == account.last_queue and account.last_counter
            counter = account.last_counter if same_queue else None
        counter = counter or (info.counters[0].name if info.counters else None)
        if counter is None:
            raise NoCounters(code)
        ticket = await self.queues.call_next(code, counter, actor(account))
        await stored.remember_counter(account, code, counter)
        return Called(ticket, code, counter)

    async def recall(self, account: StaffAccount) -> Ticket:
        ticket = await self.current(account)
        return await self.queues.ticket_action(ticket.id, TicketAction.RECALL, actor(account))

    async def no_show(self, account: StaffAccount) -> Ticket:
        ticket = await self.current(account)
        return await self.queues.ticket_action(ticket.id, TicketAction.NO_SHOW, actor(account))

    async def done(self, account: StaffAccount) -> Ticket:
        """Finishes the visit at the counter (the domain starts it first if it was only called)."""
        ticket = await self.current(account)
        return await self.queues.ticket_action(ticket.id, TicketAction.COMPLETE, actor(account))

    async def current(self, account: StaffAccount) -> Ticket:
        """The patient at the account's counter: the one it called last and has not finished."""
        if not account.last_queue or not account.last_counter:
            raise NothingCalled()
        require_queue(account, account.last_queue)  # it may have been taken off the account
        ticket_id = await ticket_reads.latest_at_counter(account.last_queue, account.last_counter)
        if ticket_id is None:
            raise NotFound("ticket", f"at {account.last_queue} counter {account.last_counter}")
        view = await self.queues.ticket_view(ticket_id, with_history=False)
        return view.ticket

    async def pause(
        self, account: StaffAccount, code: str | None, message: str | None
    ) -> tuple[str, str | None]:
        """Stops joins to the queue named, else the account's last; returns the queue and
        the message patients are told."""
        code = self._chosen(account, code, "/pause PHARM Fire drill, back at 11")
        pause = await self.queues.pause(code, message, actor(account))
        return code, pause.message

    async def resume(self, account: StaffAccount, code: str | None) -> str:
        code = self._chosen(account, code, "/resume PHARM")
        await self.queues.resume(code, actor(account))
        return code

    async def is_queue(self, code: str) -> bool:
        """Whether a word of a command names a queue (`/pause Fire drill` names none)."""
        return await self.queues.exists(code)

    def _chosen(self, account: StaffAccount, code: str | None, example: str) -> str:
        code = (code or account.last_queue or "").upper()
        if not code:
            raise NoQueueChosen(f"say which queue, e.g. {example}")
        require_queue(account, code)
        return code

    async def broadcast(self, account: StaffAccount, code: str, text: str) -> BroadcastSent:
        """`/broadcast CODE text`: to the patients waiting (the console's form can also
        reach those already called)."""
        code = code.upper()
        require_queue(account, code)
        return await self.queues.broadcast(code, text, Audience.WAITING, actor(account))

    async def status(self, account: StaffAccount, code: str | None = None) -> QueueStatus:
        code = (code or account.last_queue or "").upper()
        if not code:
            raise NoQueueChosen("say which queue, e.g. /queue PHARM")
        require_queue(account, code)
        return await self.queues.status(code)
