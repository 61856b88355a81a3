"""The board's "message the line" form: staff's broadcast (`QueueService.broadcast`), the
same command as `POST /api/v1/queues/{code}/broadcast`, answered with the form again."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from core.domain.broadcast import MAX_BROADCAST_CHARS, MAX_BROADCAST_SMS_SEGMENTS
from core.domain.errors import InvalidValue
from core.services.accounts import actor
from core.services.queues import BroadcastSent, QueueInfo
from core.storage.models import StaffAccount
from web.auth import staff_page
from web.deps import container_of
from web.templating import render

bp = Blueprint("broadcast_form")


def form_values(
    text: str = "",
    to: str = "waiting",
    sent: BroadcastSent | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the form template reads as `broadcast`; the board renders it empty."""
    return {
        "text": text,
        "to": to,
        "sent": sent,
        "error": error,
        "max_chars": MAX_BROADCAST_CHARS,
        "max_segments": MAX_BROADCAST_SMS_SEGMENTS,
    }


def broadcast_form(queue: QueueInfo, **values: Any) -> str:
    return render("console/broadcast.html", queue=queue, broadcast=form_values(**values))


@bp.post("/console/queues/<code>/broadcast")
@staff_page()
async def broadcast(request: Request, code: str, account: StaffAccount, csrf: str) -> HTTPResponse:
    queues = container_of(request).queues
    info = await queues.get_queue(code.upper())
    form: Any = request.form or {}
    text, to = str(form.get("text") or ""), str(form.get("to") or "waiting")
    try:
        sent = await queues.broadcast(info.code, text, to, actor(account))
    except InvalidValue as exc:  # empty, too long, too many SMS segments: the text stays
        return html(broadcast_form(info, text=text, to=to, error=str(exc)), status=422)
    return html(broadcast_form(info, to=to, sent=sent))
