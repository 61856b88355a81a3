"""The live hub: one per process, it fans each change of a queue out to the clients
watching it (`web/live/routes.py` connects them).

A command committed in this process reaches the hub straight from `QueueService` (its
events and the state it committed), so its displays and patient pages are sent snapshots
built from that state, with no read. Events of other processes come through the bus (read
once, whatever the number of clients); their queue is then read once per burst. The
latest state is kept per watched queue, so a connecting client is answered from it.

A message is encoded once per audience, not once per client, and each client has a bounded
buffer: a client that cannot keep up is disconnected (it reconnects and gets a fresh
snapshot) rather than silently missing messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.bus import EventBus, Message, Subscription
from core.services.queues import Committed, QueueService, QueueStatus
from core.storage.errors import NotFound
from core.tasks import cancel_and_wait
from web.public.opening import opening_view
from web.serialize import iso, public_ticket_json, status_json

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
ROUND_S = 0.025
"""Rounds of snapshots for a queue are at least this far apart: a burst of commands (a call
and the start right behind it) is sent as one round, one write per client. A read for
events of another process waits as long for the rest of their burst."""
RECHECK_S = 3.0
"""Staff feeds are re-authorised this often: a logout, a deactivation, a revoked token or a
queue taken off the account closes them within seconds, in every process (the check reads
the database, which every process shares)."""
StillAllowed = Callable[[], Awaitable[bool]]
OWN_EVENT_WAIT_S = 10.0
"""How long an event this process committed is awaited back from the bus, to be recognised
and not sent twice; past that it was lost on the way (Redis delivers at most once, within
milliseconds). Short, as a commit's keys are kept that long."""
ENDED_STATUSES = frozenset({"done", "cancelled", "no_show", "closed"})
EventKey = tuple[Any, ...]


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
    waiting = queue.waiting()
    opening = opening_view(queue, status.updated_at, queue.config.language)
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
            "next": [t.number for t in waiting[:DISPLAY_NEXT]],
            "waiting": len(waiting),
            "open": opening.open,
            "notice": opening.notice,
            "event_at": event_at,
        },
    }


def staff_snapshot(status: QueueStatus) -> str:
    return encode({"type": "snapshot", "queue": status.queue.code, "data": status_json(status)})


def event_key(message: Message) -> EventKey:
    """Tells one event from another, in this process and as it comes back from the bus."""
    data = message.get("data") or {}
    return (message.get("type"), message.get("queue"), data.get("ticket_id"), data.get("at"))


def ticket_from_status(status: QueueStatus, ticket_id: str) -> dict[str, Any] | None:
    """The patient's view when their ticket is still live in the queue just read."""
    ticket = status.queue.tickets.get(ticket_id)
    return public_ticket_json(ticket, status.estimates.get(ticket_id)) if ticket else None


class ClientKind(enum.StrEnum):
    """Who is at the other end of a feed, which decides what it is sent."""

    STAFF = "staff"
    DISPLAY = "display"
    TICKET = "ticket"


Write = Callable[[list[str]], bool]
"""A connection's write of messages, in one go, when its socket takes them at once (False:
it does not now, the connection's writer task will)."""


@dataclass(eq=False)
class Client:
    kind: ClientKind
    queue: str
    ticket_id: str | None = None
    token: str | None = None
    outbox: list[str] = field(default_factory=list)
    """Messages not written yet, at most CLIENT_BUFFER."""
    closing: bool = False
    """The writer is to close the connection: too slow, or its credential was revoked."""
    pending: asyncio.Event = field(default_factory=asyncio.Event)
    """Wakes the connection's writer task: the outbox holds what `write_now` could not
    write, or the connection is closing."""
    write_now: Write | None = None
    """Set by the connection's writer once it runs: messages go straight to the socket."""
    last_sent: str | None = None
    """The last snapshot sent, so an unchanged one is not sent again."""
    last_view: dict[str, Any] | None = None
    """A patient page: the ticket as last sent (without `event_at`), sent again only changed."""
    too_slow: bool = False
    still_allowed: StillAllowed | None = None
    """For a staff feed: whether its credential still holds; checked every RECHECK_S."""
    revoked: bool = False

    def end(self) -> None:
        """Closes the feed: its credential no longer holds."""
        self.revoked = True
        self.close()

    def close(self) -> None:
        self.closing = True
        self.outbox.clear()
        self.pending.set()

    def offer(self, text: str) -> None:
        """Queues a message; what a round (or any one turn of the event loop) offers a client
        is written right after it, in one write, without waking the connection's task."""
        if self.closing:
            return
        if len(self.outbox) >= CLIENT_BUFFER:
            self.too_slow = True
            self.close()
            return
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outbox.append(text)

    def flush(self) -> None:
        if not self.outbox or self.closing:
            return
        if self.write_now is not None and self.write_now(self.outbox):
            self.outbox = []
        else:
            self.pending.set()

    def offer_snapshot(self, text: str) -> None:
        if text != self.last_sent:
            self.last_sent = text
            self.offer(text)

    def offer_first(self, text: str) -> None:
        """A snapshot read on connecting, unless a newer one has reached the client since."""
        if self.last_sent is None:
            self.offer_snapshot(text)

    def offer_view(self, code: str, view: dict[str, Any], event_at: str | None) -> None:
        if view != self.last_view:
            self.last_view = view
            self.offer(ticket_message(code, view, event_at))

    @property
    def ended(self) -> bool:
        """A patient page already shown that its ticket ended: nothing more can change."""
        return self.last_view is not None and self.last_view["status"] in ENDED_STATUSES


@dataclass(eq=False)
class Watch:
    """A queue that clients of this process watch, and the latest state they were sent."""

    code: str
    clients: set[Client] = field(default_factory=set)
    status: QueueStatus | None = None
    """The state last sent to the displays and patient pages."""
    committed: tuple[QueueStatus, str | None] | None = None
    """A commit of this process not sent yet (its state, its newest event's `at`)."""
    events: list[Message] = field(default_factory=list)
    """The events of this process's commits not sent yet, in order."""
    last_round: float = float("-inf")
    dirty: bool = True
    """Something changed that `status` may not show: a read is due."""
    read_overtaken: bool = False
    """A commit came while the queue was being read: that read may be older; dropped."""
    event_at: str | None = None
    """The newest event's `at`: what a read reflects at least."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    refresher: asyncio.Task[None] | None = None
    expected: Counter[EventKey] = field(default_factory=Counter)
    """Events this process committed (sent from here, not from the bus), still to come
    back from the bus."""
    expected_since: deque[tuple[float, list[EventKey]]] = field(default_factory=deque)
    staff_text: tuple[QueueStatus, str] | None = None
    tokens: tuple[QueueStatus, dict[str, str]] | None = None

    def current(self) -> QueueStatus | None:
        """The queue's state as this process last knew it, when nothing has changed since."""
        if self.committed is not None:
            return self.committed[0]
        return None if self.dirty else self.status

    def has_pages(self) -> bool:
        return any(c.kind is not ClientKind.STAFF for c in self.clients)

    def expect(self, keys: list[EventKey], now: float) -> None:
        self.expected.update(keys)
        self.expected_since.append((now, keys))
        while self.expected_since and self.expected_since[0][0] < now - OWN_EVENT_WAIT_S:
            for key in self.expected_since.popleft()[1]:
                self.recognise(key)  # lost on the way, or came back already (then a no-op)

    def recognise(self, key: EventKey) -> bool:
        """Whether the event is one this process committed (and the clients have)."""
        left = self.expected.get(key, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.expected[key]
        else:
            self.expected[key] = left - 1
        return True

    def staff_snapshot(self, status: QueueStatus) -> str:
        if self.staff_text is None or self.staff_text[0] is not status:
            self.staff_text = (status, staff_snapshot(status))
        return self.staff_text[1]

    def ticket_id_for(self, status: QueueStatus, token: str) -> str | None:
        if self.tokens is None or self.tokens[0] is not status:
            self.tokens = (status, {t.token: t.id for t in status.queue.tickets.values()})
        return self.tokens[1].get(token)


class LiveHub:
    def __init__(self, bus: EventBus, queues: QueueService) -> None:
        self.bus = bus
        self.queues = queues
        self.watches: dict[str, Watch] = {}
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._checker: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self.recheck_s = RECHECK_S
        queues.on_committed(self.committed)

    async def start(self) -> None:
        """Subscribes on the first client, so an app that nobody watches reads no events."""
        async with self._starting:
            if self._reader is None:
                self._subscription = await self.bus.subscribe()
                self._reader = asyncio.create_task(self._read(self._subscription), name="live")
                self._checker = asyncio.create_task(self._recheck_staff(), name="live-auth")

    async def stop(self) -> None:
        refreshers = [w.refresher for w in self.watches.values()]
        await cancel_and_wait(
            t for t in [self._reader, self._checker, *refreshers] if t is not None
        )
        if self._subscription is not None:
            await self._subscription.close()
        self._reader = self._subscription = self._checker = None
        self.watches.clear()

    async def _recheck_staff(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_s)
            staff = [
                c
                for watch in list(self.watches.values())
                for c in list(watch.clients)
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
        watch = self.watches.get(client.queue)
        if watch is None:
            watch = self.watches[client.queue] = Watch(client.queue)
            watch.refresher = asyncio.create_task(
                self._refresh(watch), name=f"live-refresh-{client.queue}"
            )
        watch.clients.add(client)
        if client.kind is not ClientKind.STAFF and watch.dirty:
            watch.wake.set()  # a staff feed alone keeps no state: read it for the page

    def leave(self, client: Client) -> None:
        watch = self.watches.get(client.queue)
        if watch is None:
            return
        watch.clients.discard(client)
        if not watch.clients:
            del self.watches[client.queue]
            if watch.refresher is not None:
                watch.refresher.cancel()

    # -- what connecting clients are answered with --------------------------------------------

    def current_status(self, code: str) -> QueueStatus | None:
        watch = self.watches.get(code)
        return watch.current() if watch else None

    def staff_snapshot(self, status: QueueStatus) -> str:
        watch = self.watches.get(status.queue.code)
        return watch.staff_snapshot(status) if watch else staff_snapshot(status)

    def cached_ticket(self, token: str) -> tuple[str, str, dict[str, Any]] | None:
        """(queue, ticket id, the patient's view) when a watched queue's current state holds
        the ticket; else None, and the ticket must be read."""
        for watch in self.watches.values():
            status = watch.current()
            if status is None:
                continue
            ticket_id = watch.ticket_id_for(status, token)
            view = ticket_from_status(status, ticket_id) if ticket_id else None
            if ticket_id and view:
                return watch.code, ticket_id, view
        return None

    def catch_up(self, client: Client) -> None:
        """A page that read its ticket before joining: a state sent to the others meanwhile."""
        status = self.current_status(client.queue)
        view = ticket_from_status(status, client.ticket_id) if status and client.ticket_id else None
        if view is not None:
            client.offer_view(client.queue, view, None)

    # -- changes ------------------------------------------------------------------------------

    def committed(self, commit: Committed) -> None:
        """A command of this process committed: its events and the state it left go out in
        the queue's next round, without a read."""
        now = time.monotonic()
        for status in commit.statuses:
            watch = self.watches.get(status.queue.code)
            if watch is None:
                continue
            messages = [m for m in commit.messages if m.get("queue") == watch.code]
            watch.expect([event_key(m) for m in messages], now)
            watch.events += messages
            if messages:
                watch.event_at = (messages[-1].get("data") or {}).get("at")
            # Commands on a queue take its lock in turn, so this state shows every event
            # that has come from elsewhere so far: no read is due for them any more.
            watch.committed = (status.detached(), watch.event_at)
            watch.dirty = False
            watch.read_overtaken = True
            watch.wake.set()

    async def _read(self, subscription: Subscription) -> None:
        while True:
            message = await subscription.get()
            if message is not None:
                with contextlib.suppress(Exception):
                    self.deliver(message)

    def deliver(self, message: Message) -> None:
        """An event from the bus: sent on unless this process committed it (and sent it)."""
        code = message.get("queue")
        watch = self.watches.get(code) if isinstance(code, str) else None
        if watch is None or watch.recognise(event_key(message)):
            return
        self._fan_out(watch, message)
        watch.event_at = (message.get("data") or {}).get("at")
        watch.dirty = True
        watch.wake.set()

    def _fan_out(self, watch: Watch, message: Message) -> None:
        """Encodes the message once for each audience that gets it, then offers it."""
        staff_text = encode(message)
        redacted = redact_for_display(message)
        display_text = encode(redacted) if redacted else None
        for client in list(watch.clients):
            if client.kind is ClientKind.STAFF:
                client.offer(staff_text)
            elif client.kind is ClientKind.DISPLAY and display_text is not None:
                client.offer(display_text)

    async def _refresh(self, watch: Watch) -> None:
        """Rounds: when the queue changed, each display and patient page is sent its
        snapshot, built from the state a commit of this process left (after that commit's
        events), or else (events from elsewhere, or REFRESH_S without any: waits move with
        the clock) from one read for all of them, however many events arrive during it."""
        while True:
            try:
                await asyncio.wait_for(watch.wake.wait(), REFRESH_S)
            except TimeoutError:
                watch.dirty = True
            # What comes meanwhile joins this round: the rest of a burst of events from
            # another process, before its read, or the command right behind a commit.
            soonest = watch.last_round if watch.committed else time.monotonic()
            if (wait_s := soonest + ROUND_S - time.monotonic()) > 0:
                await asyncio.sleep(wait_s)
            watch.wake.clear()
            watch.last_round = time.monotonic()
            try:
                if watch.committed is not None:
                    (status, event_at), events = watch.committed, watch.events
                    watch.committed, watch.events = None, []
                    await self._send_snapshots(watch, status, event_at, events)
                elif watch.dirty and watch.has_pages():
                    watch.dirty = watch.read_overtaken = False
                    event_at = watch.event_at
                    try:
                        status = await self.queues.status(watch.code)
                    except NotFound:
                        return  # a client asked for an unknown queue; it is being refused
                    if not watch.read_overtaken:
                        await self._send_snapshots(watch, status, event_at, [])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live snapshot of %s failed; retrying on the next change", watch.code)
                watch.dirty = True
                await asyncio.sleep(1.0)

    async def _send_snapshots(
        self, watch: Watch, status: QueueStatus, event_at: str | None, events: list[Message]
    ) -> None:
        """The events first (a display chimes on the call, then shows the state)."""
        for message in events:
            self._fan_out(watch, message)
        watch.status = status
        display_text = None
        finished = []
        for client in [c for c in watch.clients if c.kind is not ClientKind.STAFF]:
            if client.kind is ClientKind.DISPLAY:
                display_text = display_text or encode(display_snapshot(status, event_at))
                client.offer_snapshot(display_text)
            elif client.ticket_id is not None:
                view = ticket_from_status(status, client.ticket_id)
                if view is not None:
                    client.offer_view(watch.code, view, event_at)
                elif client.token is not None and not client.ended:
                    finished.append(client)
        # A ticket that has left the live queue is read alone, once, after everyone else
        # has been sent the state: it ended, or it was transferred, and the page follows it.
        for client in finished:
            assert client.token is not None
            found = await self.queues.ticket_view(token=client.token, with_history=False)
            code = found.ticket.queue
            client.offer_view(code, public_ticket_json(found.ticket, found.estimate), event_at)
            if code != client.queue:
                self.leave(client)
                client.queue = code
                self.join(client)


def ticket_message(code: str, view: dict[str, Any], event_at: str | None) -> str:
    return encode({"type": "ticket", "queue": code, "data": {**view, "event_at": event_at}})
