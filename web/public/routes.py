"""Public pages, open without a login: the waiting-room display (`/display/{code}`) and a
patient's own ticket page (`/t/{token}`), with the three things a patient may do there
(say they are late, say what their visit is for, leave).

The display shows ticket numbers and counters only: its first paint comes from the same
redacted snapshot the display websocket sends, so the page cannot show more than the feed.
A ticket page is authorised by its unguessable token alone, and shows nothing about anyone
else. Texts live here per language (en, es; English fills any gap) and go to the scripts as
JSON, so the first paint and the live updates say the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json, redirect

from core.domain.errors import DomainError, IllegalTransition, LateLimitReached
from core.domain.model import MAX_LATE, TicketAction, TicketStatus
from core.domain.notify import patient_actor
from core.messages import kind_choices, kind_label
from core.services.accounts import actor
from core.services.queues import QueueService, TicketView
from core.storage.errors import NotFound
from web.auth import session_account
from web.clients import secure_cookies
from web.deps import container_of
from web.errors import status_of
from web.live.hub import display_snapshot
from web.origin import foreign_origin
from web.public.opening import hours_view, opening_text, opening_view
from web.public.poster import phone_channels
from web.serialize import public_ticket_json
from web.templating import render

bp = Blueprint("public")

LATE_CHOICES_MIN = (5, 10, 15, 30)
LATE_MIN, LATE_MAX = 1, 120
FLASH_COOKIE = "nextup_flash"
"""What the patient just did, shown once on the page the form redirects to."""
FLASH_MAX_AGE_S = 60
FLASHES = ("left", "late", "joined", "kind")
PATIENT = patient_actor("web")
TICKET_LIVE_TEXT = (
    *(status.value for status in TicketStatus),
    "position",
    "next_up",
    "eta",
    "eta_soon",
    "eta_unknown",
    "min",
    "your_turn",
    "kind_now",
    "kind_help",
)
"""The texts the ticket page's script paints with."""
PRIVATE = {
    # The page is the patient's alone: not for caches, search engines or other sites' logs.
    # ("same-origin", not "no-referrer": with that, browsers send `Origin: null` on the
    # page's own forms, which the origin check must refuse.)
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
}

DISPLAY_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "now": "Now called",
        "next": "Next",
        "counter": "Counter",
        "waiting": "{n} waiting",
        "nobody_called": "Please wait to be called",
        "nobody_waiting": "No one waiting",
        "called": "Ticket {number}, counter {counter}",
        "recalled": "Again: ticket {number}, counter {counter}",
        "offline": "Offline \u2013 reconnecting…",
        "gone": "This queue is no longer available",
        "enable_sound": "Click to enable sound",
        "no_sound": "Continue without sound",
        "sound_on": "Sound on",
        "sound_off": "Sound off",
        "state_live": "Connected",
        "state_down": "Not connected",
    },
    "es": {
        "now": "Llamando",
        "next": "Siguientes",
        "counter": "Ventanilla",
        "waiting": "{n} en espera",
        "nobody_called": "Espere a ser llamado",
        "nobody_waiting": "Nadie en espera",
        "called": "Turno {number}, ventanilla {counter}",
        "recalled": "De nuevo: turno {number}, ventanilla {counter}",
        "offline": "Sin conexión \u2013 reconectando…",
        "gone": "Esta fila ya no está disponible",
        "enable_sound": "Pulse para activar el sonido",
        "no_sound": "Continuar sin sonido",
        "sound_on": "Sonido activado",
        "sound_off": "Sonido desactivado",
        "state_live": "Conectado",
        "state_down": "Sin conexión",
    },
}

TICKET_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "your_number": "Your number",
        "waiting": "Waiting",
        "called": "Called \u2013 go to counter {counter}",
        "serving": "Being served at counter {counter}",
        "done": "Done \u2013 thank you for your visit",
        "cancelled": "Cancelled \u2013 you left the queue",
        "no_show": "Missed \u2013 you were called but did not come. Please speak to the staff.",
        "closed": "Closed \u2013 the queue closed for the day before we could see you. Sorry.",
        "position": "Position {position} in line",
        "next_up": "You are next",
        "eta": "about {range}",
        "eta_soon": "Less than a minute",
        "eta_unknown": "Wait time not known yet",
        "min": "min",
        "late": "I'm running late",
        "late_help": "How late will you be? We move you back in line instead of skipping you.",
        "late_limit": "You have already moved back {n} times; please speak to the staff.",
        "leave": "Leave the queue",
        "leave_confirm": "Leave the queue? You will lose your place.",
        "leave_yes": "Yes, leave the queue",
        "flash_left": "You have left the queue. Thank you for letting us know.",
        "flash_late": "Thanks for telling us \u2013 you have been moved back in line.",
        "not_waiting": "You can only do this while you are waiting.",
        "called_already": "You have been called already; please speak to the staff.",
        "bad_minutes": "Choose between 1 and 120 minutes.",
        "offline": "Offline \u2013 reconnecting…",
        "keep_open": "Keep this page open: it updates by itself.",
        "your_turn": "\u25b6 Your turn \u2013 counter {counter}",
        "alerts": "When you are called, this page beeps and, where the phone allows, vibrates "
        "(tap it once so that it may play sound).",
        "get_messages": "Rather get a message?",
        "messages_note": "Telegram or a text message gives you a new number at the end of the "
        "line; then leave this one.",
        "telegram": "Join with Telegram",
        "sms": "Text JOIN {code} to {number}",
        "flash_joined": "You are in the line. Keep this page open: it tells you when to come.",
        "kind": "What is your visit for?",
        "kind_help": "It helps us tell you your wait better. Not sure? That is fine too.",
        "kind_now": "Your visit: {kind}",
        "kind_not_sure": "Not sure",
        "flash_kind": "Thanks \u2013 your wait has been worked out again.",
        "bad_kind": "Choose one of the kinds of visit listed.",
    },
    "es": {
        "your_number": "Su turno",
        "waiting": "En espera",
        "called": "Llamado \u2013 vaya a la ventanilla {counter}",
        "serving": "Siendo atendido en la ventanilla {counter}",
        "done": "Terminado \u2013 gracias por su visita",
        "cancelled": "Cancelado \u2013 salió de la fila",
        "no_show": "Perdido \u2013 le llamamos pero no vino. Hable con el personal.",
        "closed": "Cerrado \u2013 la fila cerró por hoy antes de poder atenderle. Lo sentimos.",
        "position": "Posición {position} en la fila",
        "next_up": "Usted es el siguiente",
        "eta": "unos {range}",
        "eta_soon": "Menos de un minuto",
        "eta_unknown": "Tiempo de espera aún desconocido",
        "late": "Voy a llegar tarde",
        "late_help": "¿Cuánto tardará? Le movemos atrás en la fila en lugar de saltarle.",
        "late_limit": "Ya se ha movido atrás {n} veces; hable con el personal.",
        "leave": "Salir de la fila",
        "leave_confirm": "¿Salir de la fila? Perderá su lugar.",
        "leave_yes": "Sí, salir de la fila",
        "flash_left": "Ha salido de la fila. Gracias por avisarnos.",
        "flash_late": "Gracias por avisar: le hemos movido atrás en la fila.",
        "not_waiting": "Solo puede hacer esto mientras espera.",
        "called_already": "Ya le hemos llamado; hable con el personal.",
        "bad_minutes": "Elija entre 1 y 120 minutos.",
        "offline": "Sin conexión \u2013 reconectando…",
        "keep_open": "Mantenga esta página abierta: se actualiza sola.",
        "your_turn": "\u25b6 Su turno \u2013 ventanilla {counter}",
        "alerts": "Cuando le llamemos, esta página suena y, si el móvil lo permite, vibra "
        "(tóquela una vez para que pueda sonar).",
        "get_messages": "¿Prefiere recibir un mensaje?",
        "messages_note": "Con Telegram o un SMS recibe un turno nuevo al final de la fila; "
        "después salga de esta.",
        "telegram": "Unirse con Telegram",
        "sms": "Envíe UNIRSE {code} al {number}",
        "flash_joined": "Ya está en la fila. Mantenga esta página abierta: le avisa cuando le "
        "toque.",
        "kind": "¿A qué viene?",
        "kind_help": "Así le diremos mejor cuánto esperará. ¿No lo sabe? No pasa nada.",
        "kind_now": "Su visita: {kind}",
        "kind_not_sure": "No lo sé",
        "flash_kind": "Gracias: hemos vuelto a calcular su espera.",
        "bad_kind": "Elija uno de los tipos de visita de la lista.",
    },
}


def texts(table: dict[str, dict[str, str]], language: str | None) -> tuple[str, dict[str, str]]:
    """The language to use (`es-MX` reads `es`) and its texts, English filling the gaps."""
    base = (language or "en").split("-")[0].lower()
    chosen = base if base in table else "en"
    return chosen, {**table["en"], **table[chosen]}


def error_page(title: str, message: str, status: int) -> HTTPResponse:
    page = render("not_found.html", title=title, message=message)
    return html(page, status=status, headers={"Cache-Control": "no-store"})


# -- the waiting-room display ------------------------------------------------------------


def local_clock(now: datetime, timezone: str) -> str:
    try:
        return now.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
    except (ValueError, KeyError):
        return now.strftime("%H:%M")


@bp.get("/display/<code>")
async def display(request: Request, code: str) -> HTTPResponse:
    queues = container_of(request).queues
    try:
        info = await queues.get_queue(code.upper())
        status = await queues.status(info.code)
    except NotFound:
        return error_page("Queue not found", f"There is no queue {code!r}.", 404)
    state = display_snapshot(status, None)["data"]
    language, text = texts(DISPLAY_TEXT, info.config.language)
    page = render(
        "display.html",
        lang=language,
        speech_lang=info.config.language,
        queue_name=info.shown_name,
        code=info.code,
        timezone=info.config.timezone,
        clock=local_clock(status.updated_at, info.config.timezone),
        state=state,
        text=text,
        hours=hours_view(info.config, language),
        hours_text=opening_text(language),
    )
    return html(page, headers={"Cache-Control": "no-store"})


@bp.get("/display/<code>/state")
async def display_state(request: Request, code: str) -> HTTPResponse:
    """The display's snapshot over plain HTTP: what it polls while websockets are down."""
    try:
        status = await container_of(request).queues.status(code.upper())
    except NotFound:
        return json({"error": {"code": "queue_not_found", "message": "no such queue"}}, 404)
    return json(display_snapshot(status, None)["data"], headers={"Cache-Control": "no-store"})


# -- a patient's ticket ------------------------------------------------------------------


async def ticket_page(
    request: Request,
    token: str,
    error: str | None = None,
    status: int = 200,
    flash: str | None = None,
) -> HTTPResponse:
    """The page; `error` is a key of TICKET_TEXT, or else a message shown as it is."""
    queues = container_of(request).queues
    try:
        view = await queues.ticket_view(token=token, with_history=False)
    except NotFound:
        return missing_ticket()
    info = await queues.get_queue(view.ticket.queue)
    language, text = texts(TICKET_TEXT, view.ticket.language or info.config.language)
    public = public_ticket_json(view.ticket, view.estimate)
    # Only a patient with no phone and no Telegram on the ticket hears of the other ways.
    unreachable = view.ticket.phone is None and view.ticket.telegram_chat_id is None
    channels = await phone_channels(request, info.code) if unreachable else None
    opening = opening_view((await queues.status(info.code)).queue, queues.clock(), language)
    page = render(
        "ticket.html",
        lang=language,
        opening=opening,
        hours_text=opening_text(language),
        token=token,
        queue_name=info.shown_name,
        ticket=public,
        state_text=state_text(text, public),
        your_turn=text["your_turn"].format(counter=public["counter"] or ""),
        channels=channels,
        sms_text=text["sms"].format(code=info.code, number=channels.sms_number)
        if channels
        else None,
        late_left=max(0, MAX_LATE - view.ticket.late_count),
        max_late=MAX_LATE,
        late_choices=LATE_CHOICES_MIN,
        kinds=kind_choices(info.config.service_times_s, language),
        kind=view.ticket.service,
        kind_now=text["kind_now"].format(kind=kind_label(view.ticket.service, language))
        if view.ticket.service
        else None,
        text=text,
        live_text={key: text[key] for key in TICKET_LIVE_TEXT},
        flash=text.get(f"flash_{flash}") if flash else None,
        error=text[error].format(n=MAX_LATE) if error in text else error,
    )
    return html(page, status=status, headers=PRIVATE)


def state_text(text: dict[str, str], ticket: dict[str, Any]) -> str:
    return text[ticket["status"]].format(counter=ticket["counter"] or "")


def missing_ticket() -> HTTPResponse:
    return error_page(
        "This ticket link is not valid",
        "Check the link in your message, or ask the staff at the desk.",
        404,
    )


@bp.get("/t/<token>")
async def ticket(request: Request, token: str) -> HTTPResponse:
    flash = request.cookies.get(FLASH_COOKIE)
    response = await ticket_page(request, token, flash=flash if flash in FLASHES else None)
    if flash is not None and response.status == 200:  # a real token: a safe cookie path
        # Shown once. (Sanic's delete_cookie would mark it Secure, which plain http ignores.)
        response.add_cookie(
            FLASH_COOKIE, "", path=f"/t/{token}", max_age=0, secure=secure_cookies(request)
        )
    return response


PatientAct = Callable[[QueueService, TicketView, str], Awaitable[None]]
"""Given the queue service, the ticket and who is acting (for the audit trail)."""


async def acting_as(request: Request) -> str:
    """Staff logged in to the console who act through a patient's page are audited as
    themselves, not as the patient."""
    found = await session_account(request)
    return actor(found[0]) if found is not None else PATIENT


async def patient_action(
    request: Request, token: str, flash: str, act: PatientAct, refused: str | None = None
) -> HTTPResponse:
    """Runs `act` on a waiting ticket and redirects back to its page (Post/Redirect/Get);
    `refused` is a TICKET_TEXT key when the input was already found wrong."""
    if foreign_origin(request):
        return error_page("Not allowed", "This request came from another website.", 403)
    queues = container_of(request).queues
    try:
        view = await queues.ticket_view(token=token, with_history=False)
    except NotFound:
        return missing_ticket()
    if refused is not None:
        return await ticket_page(request, token, error=refused, status=422)
    if view.ticket.status is not TicketStatus.WAITING:
        return await ticket_page(request, token, error=refusal(view), status=409)
    try:
        await act(queues, view, await acting_as(request))
    except IllegalTransition:  # the ticket moved on between the read and the command
        fresh = await queues.ticket_view(token=token, with_history=False)
        return await ticket_page(request, token, error=refusal(fresh), status=409)
    except LateLimitReached:  # said in the patient's language, as a TICKET_TEXT key
        return await ticket_page(request, token, error="late_limit", status=422)
    except DomainError as exc:
        return await ticket_page(request, token, error=str(exc), status=status_of(exc))
    return redirect_with_flash(request, token, flash)


def redirect_with_flash(request: Request, token: str, flash: str) -> HTTPResponse:
    """To the ticket page (Post/Redirect/Get), which says once what just happened."""
    # A copy: Sanic's redirect writes its Location into the dict it is given.
    response = redirect(f"/t/{token}", status=303, headers=dict(PRIVATE))
    response.add_cookie(
        FLASH_COOKIE,
        flash,
        path=f"/t/{token}",
        max_age=FLASH_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request),
    )
    return response


def refusal(view: TicketView) -> str:
    at_counter = view.ticket.status in (TicketStatus.CALLED, TicketStatus.SERVING)
    return "called_already" if at_counter else "not_waiting"


@bp.post("/t/<token>/leave")
async def leave(request: Request, token: str) -> HTTPResponse:
    async def cancel(queues: QueueService, view: TicketView, actor: str) -> None:
        await queues.ticket_action(view.ticket.id, TicketAction.CANCEL, actor)

    return await patient_action(request, token, "left", cancel)


def minutes_of(request: Request) -> int | None:
    raw = request.form.get("minutes") if request.form else None
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        return None
    return minutes if LATE_MIN <= minutes <= LATE_MAX else None


@bp.post("/t/<token>/late")
async def late(request: Request, token: str) -> HTTPResponse:
    minutes = minutes_of(request)

    async def delay(queues: QueueService, view: TicketView, actor: str) -> None:
        ticket = view.ticket
        delay_s = (minutes or 0) * 60
        await queues.on_ticket(ticket.id, lambda q, now: q.delay(ticket.id, delay_s, now, actor))

    refused = "bad_minutes" if minutes is None else None
    return await patient_action(request, token, "late", delay, refused)


def kind_of(request: Request, offered: Iterable[str]) -> tuple[bool, str | None]:
    """(valid, kind) from the form: `kind`, one the queue offers, or `not_sure` (a field of
    its own: a blank value is dropped when a form is read)."""
    form = request.form
    kind = str((form.get("kind") if form else None) or "").strip()
    if kind:
        return kind in offered, kind
    return bool(form and form.get("not_sure")), None


@bp.post("/t/<token>/kind")
async def kind(request: Request, token: str) -> HTTPResponse:
    """What the visit is for: one of the queue's kinds, or "not sure" (`not_sure`)."""
    queues = container_of(request).queues
    try:
        view = await queues.ticket_view(token=token, with_history=False)
    except NotFound:
        return missing_ticket()
    offered = (await queues.get_config(view.ticket.queue)).service_times_s
    valid, chosen = kind_of(request, offered)

    async def choose(queues: QueueService, view: TicketView, actor: str) -> None:
        ticket = view.ticket
        await queues.on_ticket(
            ticket.id, lambda q, now: q.choose_service(ticket.id, chosen, now, actor)
        )

    refused = None if valid else "bad_kind"
    return await patient_action(request, token, "kind", choose, refused)
