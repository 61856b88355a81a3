"""Pages for people rather than programs: the printable QR poster of a queue, and the ways
to join it from a phone that the poster, the join form and the ticket page offer."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass

import qrcode
from qrcode.image.svg import SvgPathImage
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from web.deps import Services, container_of
from web.public.opening import hours_view
from web.templating import render

bp = Blueprint("pages")
log = logging.getLogger(__name__)
BOT_NAME_TIMEOUT_S = 3.0
"""The first page that shows the Telegram link asks Telegram the bot's name (aiogram keeps
it); a page must not hang on, or fail with, an unreachable Telegram."""


def qr_svg(data: str) -> str:
    """An inline SVG: sharp at any print size, and nothing to fetch."""
    image = qrcode.make(data, image_factory=SvgPathImage, box_size=12, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode().split("?>", 1)[-1]


def join_url(container: Services, code: str) -> str:
    """The web join form, absolute: what the poster's QR code opens."""
    return f"{container.settings.base_url}/q/{code}/join"


@dataclass(frozen=True)
class PhoneChannels:
    """The ways besides the web to join a queue, each None when it is not set up."""

    telegram_link: str | None
    """`https://t.me/<bot>?start=q_<CODE>`."""
    sms_number: str | None
    """The number a patient texts `JOIN <CODE>` to."""

    @property
    def telegram_bot(self) -> str | None:
        link = self.telegram_link
        return link.split("/")[3].split("?")[0] if link else None


class BotLinks:
    """The bot's deep link for a queue. When Telegram does not answer, pages go without the
    link for `retry_s` rather than each one waiting on Telegram again."""

    def __init__(self, timeout_s: float = BOT_NAME_TIMEOUT_S, retry_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._failed_at: float | None = None

    async def link(self, container: Services, code: str) -> str | None:
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_s:
            return None
        try:
            link = await asyncio.wait_for(container.telegram_deep_link(code), self.timeout_s)
        except Exception:  # any failure of Telegram's: the page goes on without the link
            log.warning("telegram bot name unavailable; pages leave out the Telegram link")
            self._failed_at = time.monotonic()
            return None
        self._failed_at = None
        return link


async def phone_channels(request: Request, code: str) -> PhoneChannels:
    container = container_of(request)
    links: BotLinks = request.app.ctx.bot_links
    settings = container.settings
    numbers = [s for s in settings.twilio_senders if s.startswith("+")]
    sms_number = numbers[0] if settings.sms_configured and numbers else None
    return PhoneChannels(await links.link(container, code), sms_number)


@bp.get("/q/<code>/poster")
async def poster(request: Request, code: str) -> HTTPResponse:
    container = container_of(request)
    info = await container.queues.get_queue(code.upper())
    url = join_url(container, info.code)
    channels = await phone_channels(request, info.code)
    telegram = channels.telegram_link
    page = render(
        "poster.html",
        queue=info,
        join_url=url,
        join_qr=qr_svg(url),
        telegram={"link": telegram, "qr": qr_svg(telegram), "bot": channels.telegram_bot}
        if telegram
        else None,
        sms_number=channels.sms_number,
        hours=hours_view(info.config, info.config.language),
    )
    return html(page)
