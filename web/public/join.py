"""Joining a queue with nothing but a browser: the form the poster's QR code opens,
`/q/{code}/join`, in the patient's language.

The ticket is made by the same service call as every other join (capacity, overflow,
one live ticket per phone), done by `patient:web`, and the patient lands on their ticket
page `/t/{token}`. A post must carry the form's signed token and come from this site (see
`web.public.join_guard`), and each client address may join only so often.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from core.domain.errors import InvalidValue, QueueClosed, QueueClosing, QueueFull
from core.domain.notify import patient_actor
from core.messages import SUPPORTED_LANGUAGES, kind_choices
from core.phones import normalize_phone
from core.services.queues import QueueInfo, new_join_request
from core.storage.errors import NotFound
from web.clients import client_address
from web.deps import container_of
from web.origin import foreign_origin
from web.public.join_guard import FormTokens, SlidingWindow
from web.public.opening import opening_text, opening_view
from web.public.poster import phone_channels
from web.public.routes import PRIVATE, error_page, redirect_with_flash, texts
from web.templating import render

bp = Blueprint("join")

ACTOR = patient_actor("web")
MAX_NAME_CHARS = 128
"""As the API's join body allows."""
TOKEN_FIELD = "form_token"

JOIN_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Join the queue",
        "lead": "Get a number now and wait where you like: this page tells you when it is "
        "your turn.",
        "name": "Your name",
        "name_hint": "Optional: helps the staff greet you.",
        "phone": "Mobile number",
        "phone_hint": "Optional: we text you when you are called.",
        "kind": "What is your visit for?",
        "kind_unknown": "Not sure",
        "submit": "Get my number",
        "other_ways": "Other ways to join",
        "telegram": "Join with Telegram",
        "sms": "Text JOIN {code} to {number}",
        "bad_phone": "That phone number does not look right. Write it with the country code, "
        "e.g. +44 7700 900123, or leave it empty.",
        "bad_name": "The name is too long.",
        "bad_kind": "Choose a kind of visit from the list.",
        "queue_full": "The queue is full right now. Please ask at the desk.",
        "queue_closing": "We cannot see anyone joining now before closing time. Please come "
        "back when we open again.",
        "already": "This phone number already has a ticket in this queue: look for the text "
        "message we sent to it, or ask at the desk.",
        "expired": "This form was open too long. Please press the button again.",
        "too_many": "Too many tickets from this connection. Please try again in {minutes} min "
        "or ask at the desk.",
        "other_site": "This request came from another website.",
    },
    "es": {
        "title": "Únase a la fila",
        "lead": "Reciba un turno ahora y espere donde quiera: esta página le avisa cuando sea "
        "su turno.",
        "name": "Su nombre",
        "name_hint": "Opcional: ayuda al personal a saludarle.",
        "phone": "Número de móvil",
        "phone_hint": "Opcional: le enviamos un SMS cuando le llamemos.",
        "kind": "¿Cuál es el motivo de su visita?",
        "kind_unknown": "No lo sé",
        "submit": "Obtener mi turno",
        "other_ways": "Otras formas de unirse",
        "telegram": "Unirse con Telegram",
        "sms": "Envíe UNIRSE {code} al {number}",
        "bad_phone": "Ese número de teléfono no parece correcto. Escríbalo con el prefijo del "
        "país, p. ej. +34 612 345 678, o déjelo vacío.",
        "bad_name": "El nombre es demasiado largo.",
        "bad_kind": "Elija un motivo de la lista.",
        "queue_full": "La fila está llena ahora mismo. Pregunte en el mostrador.",
        "queue_closing": "No podemos atender a nadie más antes del cierre. Vuelva cuando "
        "abramos de nuevo.",
        "already": "Este número ya tiene un turno en esta fila: busque el SMS que le enviamos "
        "o pregunte en el mostrador.",
        "expired": "El formulario estuvo abierto demasiado tiempo. Pulse el botón otra vez.",
        "too_many": "Demasiados turnos desde esta conexión. Inténtelo de nuevo en {minutes} min "
        "o pregunte en el mostrador.",
        "other_site": "Esta solicitud vino de otro sitio web.",
    },
}

_LANGUAGE_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*"  # a language tag: `es`, `es-MX`
    r"\s*(?:;\s*q=([0-9.]+))?\s*$"  # and its weight
)


def accepted_language(header: str | None) -> str | None:
    """The patient's most preferred language we speak, from `Accept-Language`; None when
    the browser prefers none of ours (the queue's language is used then)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((header or "").split(",")[:20]):
        match = _LANGUAGE_RANGE.match(item)
        if match is None:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        base = match.group(1).lower()
        if base in SUPPORTED_LANGUAGES and weight > 0:
            ranked.append((-weight, index, base))
    return min(ranked)[2] if ranked else None


class JoinRefused(Exception):
    """Why the form comes back; `key` is a JOIN_TEXT key."""

    def __init__(self, key: str, status: int = 422, retry_after_s: int | None = None) -> None:
        super().__init__(key)
        self.key, self.status, self.retry_after_s = key, status, retry_after_s

    def message(self, text: dict[str, str]) -> str:
        minutes = math.ceil((self.retry_after_s or 0) / 60)
        return text[self.key].format(minutes=minutes)


def language_of(request: Request, info: QueueInfo) -> str:
    """The browser's preferred language when we speak it, else the queue's."""
    return accepted_language(request.headers.get("accept-language")) or info.config.language


def guards(request: Request) -> tuple[FormTokens, SlidingWindow]:
    """The app's join form signer and per-address join counter (made in `create_app`)."""
    forms: FormTokens = request.app.ctx.join_forms
    limiter: SlidingWindow = request.app.ctx.join_limiter
    return forms, limiter


async def form_page(
    request: Request,
    info: QueueInfo,
    error: JoinRefused | None = None,
    values: dict[str, str] | None = None,
    status: int | None = None,
) -> HTTPResponse:
    language, text = texts(JOIN_TEXT, language_of(request, info))
    channels = await phone_channels(request, info.code)
    queues = container_of(request).queues
    opening = opening_view((await queues.status(info.code)).queue, queues.clock(), language)
    page = render(
        "join.html",
        lang=language,
        opening=opening,
        hours_text=opening_text(language),
        queue=info,
        kinds=kind_choices(info.config.service_times_s, language),
        form_token=guards(request)[0].issue(info.code),
        token_field=TOKEN_FIELD,
        values=values or {},
        error=error.message(text) if error else None,
        channels=channels,
        sms_text=text["sms"].format(code=info.code, number=channels.sms_number),
        text=text,
    )
    response = html(page, status=status or (error.status if error else 200), headers=PRIVATE)
    if error is not None and error.retry_after_s is not None:
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def queue_or_none(request: Request, code: str) -> QueueInfo | None:
    try:
        return await container_of(request).queues.get_queue(code.upper())
    except NotFound:
        return None


def unknown_queue(code: str) -> HTTPResponse:
    return error_page("Queue not found", f"There is no queue {code!r}.", 404)


@bp.get("/q/<code>/join")
async def join_form(request: Request, code: str) -> HTTPResponse:
    info = await queue_or_none(request, code)
    if info is None:
        return unknown_queue(code)
    return await form_page(request, info)


def form_values(request: Request) -> dict[str, str]:
    form = request.form
    return {
        key: str((form.get(key) if form else None) or "").strip()
        for key in ("name", "phone", "kind")
    }


def checked_fields(values: dict[str, str], info: QueueInfo, region: str | None) -> dict[str, Any]:
    """The join request's fields from the form, or JoinRefused saying what to fix."""
    name = values["name"] or None
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise JoinRefused("bad_name")
    phone = None
    if values["phone"]:
        try:
            phone = normalize_phone(values["phone"], region)
        except InvalidValue:
            raise JoinRefused("bad_phone") from None
    kind = values["kind"] or None
    if kind is not None and kind not in info.config.service_times_s:
        raise JoinRefused("bad_kind")
    return {"name": name, "phone": phone, "service": kind}


def admit(request: Request, info: QueueInfo) -> None:
    """JoinRefused for a form this app did not issue lately for this queue (an expired form
    comes back fresh, with what was typed), or past the client address's limit."""
    forms, limiter = guards(request)
    if not forms.valid(info.code, request.form.get(TOKEN_FIELD) if request.form else None):
        raise JoinRefused("expired", 403)
    retry_s = limiter.hit(f"ip:{client_address(request)}")
    if retry_s:
        raise JoinRefused("too_many", 429, retry_after_s=math.ceil(retry_s))


@bp.post("/q/<code>/join")
async def join(request: Request, code: str) -> HTTPResponse:
    info = await queue_or_none(request, code)
    if info is None:
        return unknown_queue(code)
    if foreign_origin(request):
        _, text = texts(JOIN_TEXT, language_of(request, info))
        return error_page(text["title"], text["other_site"], 403)
    values = form_values(request)
    queues = container_of(request).queues
    try:
        admit(request, info)
        fields = checked_fields(values, info, queues.phone_region)
        language = accepted_language(request.headers.get("accept-language"))
        joined = await queues.join(info.code, new_join_request(language=language, **fields), ACTOR)
    except JoinRefused as refused:
        return await form_page(request, info, refused, values)
    except QueueFull:  # raised only when there is no overflow queue to send the patient to
        return await form_page(request, info, JoinRefused("queue_full", 409), values)
    except QueueClosed:  # the page says until when (its notice)
        return await form_page(request, info, None, values, status=409)
    except QueueClosing:
        return await form_page(request, info, JoinRefused("queue_closing", 409), values)
    if joined.existing:
        # Never the ticket page of whoever holds that phone number: anyone can type one.
        return await form_page(request, info, JoinRefused("already", 409), values)
    return redirect_with_flash(request, joined.ticket.token, "joined")
