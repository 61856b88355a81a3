"""The live hub: one per process, it reads the event bus once and fans each message out to
the clients watching a queue (`web/live/routes.py` connects them).

A message is encoded once per audience, not once per client, and each client has a bounded
buffer: a client that cannot keep up is disconnected (it reconnects and gets a fresh
snapshot) rather than silently missing messages. Displays and patient pages get snapshots
that one status read per queue serves to all of them, however many events arrive meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.bus import EventBus, Message, Subscription
from core.services.queues import QueueService, QueueStatus
from core.storage.errors import NotFound
from web.serialize import iso, public_ticket_json

log = logging.getLogger(__name__)

CLIENT_BUFFER = 500
"""Messages waiting for one client; past this it is too slow and is disconnected."""
REFRESH_S = 30.0
"""Snapshots are also refreshed this often: waits and ETAs move with the clock alone."""
DISPLAY_NEXT = 6
"""How many of the next numbers a waiting-room display shows."""
DISPLAY_EVENT_FIELDS = ("number", "counter", "at", "to_status")
DISPLAY_EVENTS = frozenset(
    {
        "ticket_called",
        "ticket_recalled",
        "ticket_started",
        "ticket_completed",
        "ticket_marked_no_show",
        "ticket_cancelled",
        "ticket_returned",
        "ticket_joined",
    }
)
RECHECK_S = 3.0
"""Staff feeds are re-authorised this often: a logout, a deactivation, a revoked token or a
queue taken off the account closes them within seconds, in every process (the check reads
the database, which every process shares)."""
StillAllowed = Callable[[], Awaitable[bool]]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def redact_for_display(message: Message) -> Message | None:
    """Ticket numbers and counters only: never a name, phone, staff member or ticket id."""
    if message.get("type") not in DISPLAY_EVENTS:
        return None
    data = message.get("data") or {}
    return {
        "type": message["type"],
        "queue": message["queue"],
        "data": {k: data[k] for k in DISPLAY_EVENT_FIELDS if k in data},
    }


def display_snapshot(status: QueueStatus, event_at: str | None) -> Message:
    queue = status.queue
    called = sorted(queue.at_counters(), key=lambda t: t.called_at or t.joined_at, reverse=True)
    return {
        "type": "display",
        "queue": queue.code,
        "data": {
            "called": [
                {
                    "number": t.number,
                    "counter": t.counter,
                    "status": t.status.value,
                    "called_at": iso(t.called_at),
                }
                for t in called
            ],
            "next": [t.number for t in queue.waiting()[:DISPLAY_NEXT]],
            "waiting": len(queue.waiting()),
            "event_at": event_at,
        },
    }


def ticket_from_status(status: QueueStatus, ticket_id: str) -> dict[str, Any] | None:
    """The patient's view when their ticket is still live in the queue just read."""
    ticket = status.queue.tickets.get(ticket_id)
    return public_ticket_json(ticket, status.estimates.get(ticket_id)) if ticket else None


class ClientKind(enum.StrEnum):
    """Who is at the other end of a feed, which decides what it is sent."""

    STAFF = "staff"
    DISPLAY = "display"
    TICKET = "ticket"


@dataclass(eq=False)
class Client:
    kind: ClientKind
    queue: str
    ticket_id: str | None = None
    token: str | None = None
    outbox: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_BUFFER))
    last_sent: str | None = None
    """The last snapshot sent, so an unchanged one is not sent again."""
    too_slow: bool = False
    still_allowed: StillAllowed | None = None
    """For a staff feed: whether its credential still holds; checked every RECHECK_S."""
    revoked: bool = False

    def end(self) -> None:
        """Closes the feed: its credential no longer holds."""
        self.revoked = True
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox.put_nowait(None)

    def offer(self, text: str) -> None:
        if self.too_slow:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.too_slow = True
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)  # the writer closes the connection

    def offer_snapshot(self, text: str) -> None:
        if text != self.last_sent:
            self.last_sent = text
            self.offer(text)


class LiveHub:
    def __init__(self, bus: EventBus, queues: QueueService) -> None:
        self.bus = bus
        self.queues = queues
        self.clients: dict[str, set[Client]] = {}
        self._dirty: dict[str, asyncio.Event] = {}
        self._refreshers: dict[str, asyncio.Task[None]] = {}
        self._event_at: dict[str, str | None] = {}
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._checker: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self.recheck_s = RECHECK_S

    async def start(self) -> None:
        """Subscribes on the first client, so an app that nobody watches reads no events."""
        async with self._starting:
            if self._reader is None:
                self._subscription = await self.bus.subscribe()
                self._reader = asyncio.create_task(self._read(self._subscription), name="live")
                self._checker = asyncio.create_task(self._recheck_staff(), name="live-auth")

    async def stop(self) -> None:
        tasks = [
            t for t in [self._reader, self._checker, *self._refreshers.values()] if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refreshers.clear()
        if self._subscription is not None:
            await self._subscription.close()
        self._reader = self._subscription = self._checker = None
        self.clients.clear()

    async def _recheck_staff(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_s)
            staff = [
                c
                for clients in list(self.clients.values())
                for c in list(clients)
                if c.still_allowed is not None and not c.revoked
            ]
            for client in staff:
                assert client.still_allowed is not None
                try:
                    allowed = await client.still_allowed()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("re-checking a staff feed failed; trying again")
                    continue
                if not allowed:
                    client.end()

    def join(self, client: Client) -> None:
        self.clients.setdefault(client.queue, set()).add(client)
        if client.kind is not ClientKind.STAFF and client.queue not in self._refreshers:
            self._dirty[client.queue] = asyncio.Event()
            self._refreshers[client.queue] = asyncio.create_task(
                self._refresh(client.queue), name=f"live-refresh-{client.queue}"
            )

    def leave(self, client: Client) -> None:
        clients = self.clients.get(client.queue)
        if clients is None:
            return
        clients.discard(client)
        if not any(c.kind is not ClientKind.STAFF for c in clients):
            refresher = self._refreshers.pop(client.queue, None)
            if refresher is not None:
                refresher.cancel()
            self._dirty.pop(client.queue, None)
        if not clients:
            del self.clients[client.queue]

    async def _read(self, subscription: Subscription) -> None:
        while True:
            message = await subscription.get()
            if message is not None:
                with contextlib.suppress(Exception):
                    self.deliver(message)

    def deliver(self, message: Message) -> None:
        code = message.get("queue")
        if not isinstance(code, str) or not self.clients.get(code):
            return
        clients = self.clients[code]
        staff_text = display_text = None
        for client in list(clients):
            if client.kind is ClientKind.STAFF:
                staff_text = staff_text or encode(message)
                client.offer(staff_text)
            elif client.kind is ClientKind.DISPLAY:
                if display_text is None:
                    redacted = redact_for_display(message)
                    display_text = encode(redacted) if redacted else ""
                if display_text:
                    client.offer(display_text)
        self._event_at[code] = (message.get("data") or {}).get("at")
        dirty = self._dirty.get(code)
        if dirty is not None:
            dirty.set()

    async def _refresh(self, code: str) -> None:
        """Reads the queue when it changed (or every REFRESH_S) and sends each display and
        patient page its snapshot; events arriving during a read are covered by the next."""
        dirty = self._dirty[code]
        dirty.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dirty.wait(), REFRESH_S)
            dirty.clear()
            try:
                await self._send_snapshots(code)
            except asyncio.CancelledError:
                raise
            except NotFound:
                return  # a client asked for an unknown queue; it is being refused
            except Exception:
                log.exception("live snapshot of %s failed; retrying on the next change", code)
                await asyncio.sleep(1.0)

    async def _send_snapshots(self, code: str) -> None:
        clients = [c for c in self.clients.get(code, ()) if c.kind is not ClientKind.STAFF]
        if not clients:
            return
        event_at = self._event_at.get(code)
        status = await self.queues.status(code)
        display_text = encode(display_snapshot(status, event_at))
        for client in clients:
            if client.kind is ClientKind.DISPLAY:
                client.offer_snapshot(display_text)
            elif client.ticket_id is not None:
                view = ticket_from_status(status, client.ticket_id)
                if view is None and client.token is not None:  # finished: read it alone
                    ticket = (await self.queues.ticket_view(token=client.token)).ticket
                    view = public_ticket_json(ticket, None)
                if view is not None:
                    client.offer_snapshot(ticket_message(code, view, event_at))


def ticket_message(code: str, view: dict[str, Any], event_at: str | None) -> str:
    return encode({"type": "ticket", "queue": code, "data": {**view, "event_at": event_at}})
