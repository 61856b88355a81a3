"""Live updates over websockets: `/ws/queues/{code}` (staff: every event; no credentials: the
waiting-room display's redacted feed) and `/ws/tickets/{token}` (one patient's ticket).

Each route authorises its client, joins it to the process's hub (`web/live/hub.py`) and pumps
the client's messages to its socket until either side closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time

from sanic import Blueprint, Request
from sanic.server.websockets.impl import WebsocketImplProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from core.services.accounts import account_for_token, can_use_queue
from core.services.errors import Unauthorized
from core.storage import accounts
from core.storage.errors import NotFound
from core.storage.models import StaffAccount
from web import paths
from web.auth import authenticate, session_account
from web.live.hub import Client, ClientKind, LiveHub, StillAllowed, display_snapshot, encode
from web.origin import foreign_origin
from web.serialize import public_ticket_json
from web.session import still_current

bp = Blueprint("live")

HEARTBEAT_S = 20.0
"""A ping this often keeps proxies from closing an idle connection and lets clients notice
a dead one (they reconnect after two missed pings)."""
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_NOT_FOUND = 4404
CLOSE_REVOKED = 4401


def hub(request: Request) -> LiveHub:
    live: LiveHub = request.app.ctx.live
    return live


ENDED = "your session ended or no longer covers this queue; log in again"


async def staff_credential(request: Request) -> tuple[StaffAccount, StillAllowed] | None:
    """A bearer token, or a session cookie sent by one of our own pages (a page of another
    site can open a websocket with the staff member's cookies; its Origin gives it away);
    with the check that tells later whether the same credential still holds."""
    header = request.headers.get("authorization")
    if header:
        try:
            account = await authenticate(request)
        except Unauthorized:
            return None
        token = header.partition(" ")[2].strip()

        async def token_holds() -> bool:
            try:
                return (await account_for_token(token)).id == account.id
            except Unauthorized:
                return False

        return account, token_holds
    if foreign_origin(request):
        return None
    found = await session_account(request)
    if found is None:
        return None
    account, session = found

    async def session_holds() -> bool:
        current = await accounts.by_id(account.id)
        return current is not None and still_current(session, current)

    return account, session_holds


def in_scope(account: StaffAccount, code: str, still_allowed: StillAllowed) -> StillAllowed:
    """The credential holds and the queue is still assigned to the account."""

    async def check() -> bool:
        if not await still_allowed():
            return False
        current = await accounts.by_id(account.id)
        return current is not None and can_use_queue(current, code)

    return check


@functools.lru_cache(maxsize=1024)
def text_frame(text: str) -> bytes:
    """A message as a websocket frame: the same bytes for every client (a server does not
    mask its frames, and Sanic negotiates no extension), so one message to a thousand
    clients is framed once. The cache holds a round's distinct messages (each patient page
    has its own) with room to spare, so a display's snapshot stays in it for the round."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


async def pump(ws: WebsocketImplProtocol, client: Client) -> None:
    """Writes the client's messages while reading its pings, until either side closes.

    What the hub offers a client is written right after the round that offered it, straight
    to the socket (`Client.flush`): a thousand clients cost a thousand writes a round, not a
    thousand tasks woken as well. This task writes what the socket could not take at once
    (waiting for room), a ping after HEARTBEAT_S without any write, and the close."""
    writing = False
    last_write = time.monotonic()

    def write_now(texts: list[str]) -> bool:
        nonlocal last_write
        proto = ws.io_proto
        transport = proto.transport if proto is not None else None
        if (
            writing  # this task's write waits for room: what follows goes after it
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size()
            or ws.ws_proto.state is not State.OPEN
        ):
            return False
        transport.write(frames(texts))
        last_write = time.monotonic()
        return True

    async def read() -> None:
        while True:
            raw = await ws.recv()
            if raw is None:
                return
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(raw).get("type") == "ping":
                    client.offer(encode({"type": "pong"}))

    reader = asyncio.create_task(read())
    reader.add_done_callback(lambda _: client.pending.set())
    client.write_now = write_now
    try:
        while not reader.done():
            if client.closing and client.revoked:
                await ws.send(
                    encode({"type": "error", "data": {"code": "unauthorized", "message": ENDED}})
                )
                await ws.close(CLOSE_REVOKED, ENDED)
                return
            if client.closing:
                await ws.close(CLOSE_TOO_SLOW, "too slow; reconnect")
                return
            if not client.outbox:
                quiet_s = time.monotonic() - last_write
                if quiet_s < HEARTBEAT_S:
                    client.pending.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(HEARTBEAT_S - quiet_s):
                            await client.pending.wait()
                    continue
                client.outbox.append(encode({"type": "ping"}))
            if ws.io_proto is None or ws.ws_proto.state is not State.OPEN:
                return  # closing
            batch, client.outbox = client.outbox, []
            writing = True
            try:
                # Sanic's own write, which waits while the client's socket is full (untyped).
                await ws.io_proto.send(frames(batch))  # type: ignore[no-untyped-call]
            finally:
                writing = False
            last_write = time.monotonic()
    finally:
        client.write_now = None
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader


def frames(texts: list[str]) -> bytes:
    return b"".join(text_frame(text) for text in texts)


async def refuse(ws: WebsocketImplProtocol, code: str, message: str) -> None:
    await ws.send(encode({"type": "error", "data": {"code": code, "message": message}}))
    await ws.close(CLOSE_NOT_FOUND, message[:120])


@paths.websocket(bp, "/ws/queues/<code>", refuse)
async def queue_feed(request: Request, ws: WebsocketImplProtocol, code: str) -> None:
    live = hub(request)
    await live.start()
    credential = await staff_credential(request)
    if credential is not None and not can_use_queue(credential[0], code):
        await refuse(ws, "queue_not_found", f"no queue {code!r}")
        return
    client = Client(ClientKind.STAFF if credential else ClientKind.DISPLAY, code)
    if credential is not None:
        client.still_allowed = in_scope(credential[0], code, credential[1])
    live.join(client)  # before the read: nothing that happens after it can be missed
    try:
        status = live.current_status(code)
        if status is None:
            try:
                status = await live.queues.status(code)
            except NotFound as exc:
                await refuse(ws, "queue_not_found", str(exc))
                return
        if client.kind is ClientKind.STAFF:
            await ws.send(live.staff_snapshot(status))
        else:
            client.offer_first(encode(display_snapshot(status, None)))
        await pump(ws, client)
    finally:
        live.leave(client)


@paths.websocket(bp, "/ws/tickets/<token>", refuse)
async def ticket_feed(request: Request, ws: WebsocketImplProtocol, token: str) -> None:
    live = hub(request)
    await live.start()
    cached = live.cached_ticket(token)
    if cached is not None:
        code, ticket_id, view = cached
        client = Client(ClientKind.TICKET, code, ticket_id=ticket_id, token=token)
        client.offer_view(code, view, None)
        live.join(client)  # at once: nothing since the state above can be missed
    else:
        try:
            found = await live.queues.ticket_view(token=token, with_history=False)
        except NotFound:
            await refuse(ws, "ticket_not_found", "no ticket has that link")
            return
        ticket = found.ticket
        client = Client(ClientKind.TICKET, ticket.queue, ticket_id=ticket.id, token=token)
        client.offer_view(ticket.queue, public_ticket_json(ticket, found.estimate), None)
        live.join(client)
        live.catch_up(client)  # a change sent to the others during the read above
    try:
        await pump(ws, client)
    finally:
        live.leave(client)
