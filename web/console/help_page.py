"""`/console/help`: the printable quick-reference card (words in `web.console.help_card`),
for any staff account, in English or Spanish (`?lang=es`)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from core.storage.models import StaffAccount
from web.auth import staff_page
from web.console import help_card
from web.console.routes import base_context
from web.templating import render

bp = Blueprint("help")


@bp.get("/console/help")
@staff_page()
async def help_page(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    lang = help_card.language(request.args.get("lang"))
    page = render(
        "console/help.html",
        **base_context(request, account, csrf, "help"),
        lang=lang,
        other_lang="en" if lang == "es" else "es",
        words=help_card.WORDS[lang],
        board=help_card.BOARD,
        commands=help_card.BOT_COMMANDS,
        unreachable=help_card.UNREACHABLE,
    )
    return html(page)
