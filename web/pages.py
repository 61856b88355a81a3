"""Pages for people rather than programs; for now the printable QR poster of a queue."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from qrcode.image.svg import SvgPathImage
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from core.wiring import Container
from web.render import render

bp = Blueprint("pages")


def qr_svg(data: str) -> str:
    """An inline SVG: sharp at any print size, and nothing to fetch."""
    image = qrcode.make(data, image_factory=SvgPathImage, box_size=12, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode().split("?>", 1)[-1]


@bp.get("/q/<code>/poster")
async def poster(request: Request, code: str) -> HTTPResponse:
    container: Container = request.app.ctx.container
    info = await container.queues.get_queue(code.upper())
    telegram: dict[str, Any] | None = None
    link = await container.telegram_deep_link(info.code)
    if link is not None:
        telegram = {"link": link, "qr": qr_svg(link), "bot": link.split("/")[3].split("?")[0]}
    settings = container.settings
    numbers = [s for s in settings.twilio_senders if s.startswith("+")]
    sms_number = numbers[0] if settings.sms_configured and numbers else None
    page = render("poster.html", queue=info, telegram=telegram, sms_number=sms_number)
    return html(page)
