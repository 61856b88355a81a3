"""The dev inbox (`/console/inbox`): what channels without credentials "sent", newest first
and live, beside a patient simulator that writes to NextUp through the same code as the
Twilio and Telegram webhooks. Development only: in production every route here is a 404.

The dev inbox holds what NextUp sends, not what patients send: the simulator's transcript
shows the patient's side, for as long as the page stays open.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from sanic import Blueprint, Request
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, html, redirect

from core.domain.errors import InvalidValue
from core.domain.numbers import whole_number
from core.phones import normalize_phone
from core.storage import dev_inbox
from core.storage.models import DevInboxMessage, StaffAccount
from web.auth import PageHandler, staff_page
from web.console.routes import base_context
from web.deps import Services, container_of
from web.errors import error_response
from web.templating import render

log = logging.getLogger(__name__)
bp = Blueprint("inbox")
PAGE_SIZE = 200
"""The newest messages shown at once; older ones are a page away, so a big inbox stays fast."""
MAX_TEXT_CHARS = 1600
"""The longest SMS body Twilio takes (Telegram allows 4096): longer is no patient's text."""
DEFAULT_ADDRESS = {"sms": "+15550100001", "telegram": "100001"}
CHAT_ID = re.compile(r"[1-9][0-9]{0,14}")
URL = re.compile(r"https?://[^\s<>\"']+")
NOT_IN_SEARCH = re.compile(r"[\s()\-.]")
"""What people type in phone numbers but the stored E.164 form has not."""


def dev_only(handler: PageHandler) -> PageHandler:
    """In production these pages do not exist, for anyone."""

    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not container_of(request).settings.dev_inbox:
            raise NotFound("the dev inbox is off in production")
        return await handler(request, *args, **kwargs)

    return wrapped


def simulator_only(handler: PageHandler) -> PageHandler:
    """The patient simulator exists only while no real channel is set: with Twilio or
    Telegram credentials it would make NextUp text or message any number a staff member
    typed, at the hospital's cost."""

    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if container_of(request).settings.real_channel:
            raise NotFound("the patient simulator is off while a real channel is set")
        return await handler(request, *args, **kwargs)

    return wrapped


def form_recipient(request: Request) -> str:
    """The list's filter, which forms on the page send along so their answer keeps it."""
    return str((request.form.get("recipient") if request.form else None) or "").strip()


def is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def int_arg(raw: str | None) -> int | None:
    return whole_number(raw) if raw else None


def linkify(text: str) -> Markup:
    """The text, escaped, with its web addresses (ticket pages, mostly) as links."""
    parts: list[Markup] = []
    last = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        parts.append(escape(text[last : match.start()]))
        parts.append(Markup('<a href="{0}" target="_blank" rel="noopener">{0}</a>').format(url))
        last = match.start() + len(url)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


# -- the list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One dev-inbox message as the page lists it."""

    row: DevInboxMessage
    html: Markup
    kind: str | None
    """What the notification was (`called`, `joined`, …), when the outbox knows."""
    ticket: dict[str, Any] | None
    """`number` and `token` of the ticket it was about."""


def search_term(recipient: str) -> str:
    return NOT_IN_SEARCH.sub("", recipient)[:64]


async def shown(rows: list[DevInboxMessage]) -> list[Shown]:
    """Rows with what the outbox says about them: two queries, however many rows."""
    outbox_ids = [row.outbox_id for row in rows if row.outbox_id]
    records = await dev_inbox.outbox_records(outbox_ids)
    ticket_ids = {r["ticket_id"] for r in records.values() if r["ticket_id"]}
    tickets = await dev_inbox.ticket_numbers(ticket_ids)
    result = []
    for row in rows:
        record = records.get(row.outbox_id or "")
        ticket = tickets.get(record["ticket_id"]) if record and record["ticket_id"] else None
        kind = record["kind"] if record else None
        result.append(Shown(row, linkify(row.text), kind, ticket))
    return result


def fingerprint(messages: list[Shown]) -> str:
    """What the list shows, in a few characters: the page polls with it (`seen`) and hears
    204 while it is the same. Not the newest id: ids are handed out before commit, so on
    PostgreSQL a message can commit after a newer one and be missed by "anything after
    the newest?"; and a message changes when its button is pressed."""
    digest = hashlib.blake2b(digest_size=8)
    for message in messages:
        row = message.row
        digest.update(repr((row.id, row.text, row.buttons, message.kind)).encode())
    return digest.hexdigest()


async def listing(recipient: str, before: int | None = None) -> dict[str, Any]:
    """The list's template context: one page, newest first, and how to ask whether it
    changed (the page polls with `seen`) or for older messages."""
    rows = await dev_inbox.newest(search_term(recipient), before, PAGE_SIZE + 1)
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    messages = await shown(rows[:PAGE_SIZE])
    seen = fingerprint(messages)
    kept = {"recipient": recipient} if recipient else {}
    return {
        "messages": messages,
        "recipient": recipient,
        "live": before is None,
        "seen": seen,
        "poll_query": urlencode({"seen": seen, **kept}),
        "older_query": urlencode({"before": older, **kept}) if older else None,
        "newest_query": urlencode(kept),
    }


# -- the simulator -------------------------------------------------------------------------


@dataclass
class SimForm:
    """The simulator's fields as typed, with an error per field."""

    channel: str = "sms"
    phone: str = DEFAULT_ADDRESS["sms"]
    chat_id: str = DEFAULT_ADDRESS["telegram"]
    text: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def prefilled(cls, recipient: str, channel: str | None) -> SimForm:
        """Following one patient: the simulator speaks as them."""
        form = cls(channel=channel if channel in DEFAULT_ADDRESS else "sms")
        if recipient and channel == "sms":
            form.phone = recipient
        elif recipient and channel == "telegram" and CHAT_ID.fullmatch(recipient):
            form.chat_id = recipient
        return form

    @classmethod
    def read(cls, form: Any) -> SimForm:
        def get(name: str) -> str:
            return str(form.get(name) or "").strip() if form else ""

        channel = get("channel")
        return cls(
            channel=channel if channel in DEFAULT_ADDRESS else "sms",
            phone=get("phone"),
            chat_id=get("chat_id"),
            text=get("quick") or get("text"),
        )

    def check(self, phone_region: str | None) -> str:
        """The address to send from (E.164 or a chat id); fills `errors` when it cannot."""
        if not self.text:
            self.errors["text"] = "Type what the patient sends, e.g. JOIN PHARM."
        elif len(self.text) > MAX_TEXT_CHARS:
            self.errors["text"] = f"At most {MAX_TEXT_CHARS} characters."
        if self.channel == "telegram":
            if not CHAT_ID.fullmatch(self.chat_id):
                self.errors["chat_id"] = "A chat id is a positive whole number, e.g. 100001."
            return self.chat_id
        try:
            self.phone = normalize_phone(self.phone, phone_region)
        except InvalidValue as exc:
            self.errors["phone"] = str(exc).removeprefix("phone: ")
        return self.phone


@dataclass(frozen=True)
class Exchange:
    """One turn in the simulator's transcript: what the patient did and what came back."""

    channel: str
    address: str
    said: str
    answers: list[str]
    note: str | None = None
    pressed: bool = False


async def simulate_sms(container: Services, phone: str, text: str) -> Exchange:
    """As Twilio's webhook does; the answer, which Twilio would text back, goes to the inbox."""
    reply = await container.sms.handle(phone, text)
    if reply.text is None:
        note = "No reply: after STOP the carrier confirms the opt-out itself."
        return Exchange("sms", phone, text, [], note)
    await dev_inbox.add("sms", phone, reply.text, outbox_id=reply.record_id)
    return Exchange("sms", phone, text, [reply.text])


async def simulate_telegram(container: Services, chat_id: str, text: str) -> Exchange:
    """As a Telegram update reaches the bot; what it answered meanwhile is shown."""
    before = await dev_inbox.newest_id("")
    try:
        await container.simulated_telegram().say(int(chat_id), text)
    except Exception:  # the dispatcher's error handler missed it; never a 500 here
        log.exception("the simulated Telegram message %r failed", text)
        return Exchange("telegram", chat_id, text, [], "The bot failed; see the server log.")
    answers = await dev_inbox.texts_after("telegram", chat_id, before)
    note = None
    if container.telegram is not None:
        note = "A Telegram token is set: the real bot answered, in Telegram."
    elif not answers:
        note = "No direct answer; notifications (like “joined”) arrive in the inbox."
    return Exchange("telegram", chat_id, text, answers, note)


# -- routes --------------------------------------------------------------------------------


async def simulator_context(container: Services, form: SimForm) -> dict[str, Any]:
    codes = [q.code for q in await container.queues.list_queues()][:3] or ["PHARM"]
    return {
        "form": form,
        "sms_quick": [*(f"JOIN {c}" for c in codes), "STATUS", "LATE 10", "LEAVE"],
        "telegram_quick": [*(f"/start q_{c}" for c in codes), "/status", "/late 10", "/leave"],
        "real_telegram": container.telegram is not None,
        "simulator": not container.settings.real_channel,
    }


async def page(
    request: Request,
    account: StaffAccount,
    csrf: str,
    form: SimForm,
    exchanges: list[Exchange],
    recipient: str,
    status: int = 200,
) -> HTTPResponse:
    before = int_arg(request.args.get("before"))
    context = base_context(request, account, csrf, "inbox")
    context |= await listing(recipient, before)
    context |= await simulator_context(container_of(request), form)
    return html(render("console/inbox.html", exchanges=exchanges, **context), status=status)


@bp.get("/console/inbox")
@dev_only
@staff_page()
async def inbox(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    recipient = str(request.args.get("recipient") or "")
    form = SimForm.prefilled(recipient, request.args.get("channel"))
    return await page(request, account, csrf, form, [], recipient)


@bp.get("/console/inbox/messages")
@dev_only
@staff_page()
async def messages(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    """The list; with `seen`, nothing (204) while it is what the page already shows."""
    recipient = str(request.args.get("recipient") or "")
    context = await listing(recipient, int_arg(request.args.get("before")))
    if request.args.get("seen") == context["seen"]:
        return HTTPResponse(status=204)
    return html(render("console/inbox_list.html", csrf=csrf, **context))


@bp.post("/console/inbox/simulate")
@dev_only
@simulator_only
@staff_page()
async def simulate(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    container = container_of(request)
    form = SimForm.read(request.form)
    address = form.check(container.settings.phone_region)
    exchange = None
    if not form.errors:
        if form.channel == "telegram":
            exchange = await simulate_telegram(container, address, form.text)
        else:
            exchange = await simulate_sms(container, address, form.text)
        form.text = ""
    status = 422 if form.errors else 200
    if not is_htmx(request):
        turns = [exchange] if exchange else []
        return await page(request, account, csrf, form, turns, form_recipient(request), status)
    parts = [
        render(
            "console/inbox_simulator.html", csrf=csrf, **await simulator_context(container, form)
        )
    ]
    if exchange is not None:
        parts.append(await answered(request, csrf, exchange))
    return html("".join(parts), status=status)


async def answered(request: Request, csrf: str, exchange: Exchange) -> str:
    """Out-of-band parts of a response: the turn for the transcript, and the list."""
    recipient = form_recipient(request)
    turn = render("console/inbox_exchange.html", exchange=exchange, oob=True)
    listed = render("console/inbox_list.html", csrf=csrf, oob=True, **await listing(recipient))
    return turn + listed


@bp.post("/console/inbox/press")
@dev_only
@simulator_only
@staff_page()
async def press(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    """A button under a Telegram message, pressed as the patient it was sent to."""
    form: Any = request.form or {}
    message_id = int_arg(str(form.get("message_id") or ""))
    data = str(form.get("data") or "")
    row = await dev_inbox.telegram_message(message_id or 0)
    if row is None or not CHAT_ID.fullmatch(row.recipient):
        return error_response(404, "message_not_found", "That Telegram message is gone.")
    label = next((b["label"] for line in row.buttons for b in line if b.get("data") == data), data)
    try:
        notice = (
            await container_of(request).simulated_telegram().press(int(row.recipient), row.id, data)
        )
    except LookupError:
        return error_response(409, "button_gone", "That button is gone: it was already used.")
    except Exception:
        log.exception("the simulated button press %r failed", data)
        return error_response(502, "bot_failed", "The bot failed; see the server log.")
    if not is_htmx(request):
        kept = urlencode({"recipient": form_recipient(request)})
        return redirect(f"/console/inbox?{kept}", status=303)
    exchange = Exchange("telegram", row.recipient, label, [notice] if notice else [], pressed=True)
    response = html(await answered(request, csrf, exchange))
    if notice:
        # Telegram shows a button's answer as a small notice; so does the console.
        response.headers["HX-Trigger"] = json.dumps({"nextup-inbox-notice": {"value": notice}})
    return response
