"""The quick-reference card at /console/help: staff only, English and Spanish, linked from
the console's navigation, printable, and listing exactly the bot's staff commands."""

from __future__ import annotations

import html

from aiogram.filters import Command

from bot.staff import build_router
from tests.conftest import Api
from tests.web.sessions import console_client
from web.console import help_card


def registered_staff_commands() -> set[str]:
    """The commands bot/staff.py's router answers, read from the router itself."""
    found: set[str] = set()
    for handler in build_router().message.handlers:
        for flt in handler.filters or []:
            if isinstance(flt.callback, Command):
                found |= {c for c in flt.callback.commands if isinstance(c, str)}
    return found


def test_the_card_lists_exactly_the_bots_staff_commands() -> None:
    assert registered_staff_commands() >= {"link", "next", "recall", "noshow", "done", "queue"}
    assert help_card.command_words() == registered_staff_commands()


def test_every_line_has_both_languages() -> None:
    for line in (*help_card.BOT_COMMANDS, *help_card.BOARD, *help_card.UNREACHABLE):
        assert line.en.strip() and line.es.strip() and line.en != line.es, line
    assert set(help_card.WORDS["en"]) == set(help_card.WORDS["es"])


async def test_the_card_needs_a_login(api: Api) -> None:
    async with console_client(api, None) as client:
        response = await client.get("/console/help?lang=es")
    assert response.status_code == 302
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fhelp%3Flang%3Des"


async def test_the_card_in_english_for_staff_and_pharmacists(api: Api) -> None:
    for role in ("staff", "pharmacist"):
        async with console_client(api, role) as client:
            page = html.unescape((await client.get("/console/help")).text)
            board = (await client.get("/console")).text
        assert '<html lang="en">' in page
        assert "NextUp quick reference" in page
        for line in (*help_card.BOT_COMMANDS, *help_card.BOARD):
            assert line.what in page and line.en in page, line
        for line in help_card.UNREACHABLE:
            assert line.en in page
        assert 'href="/static/help.css"' in page
        assert 'href="/console/help"' in board  # in the navigation of every console page


async def test_the_card_in_spanish(api: Api) -> None:
    async with console_client(api, "staff") as client:
        page = html.unescape((await client.get("/console/help?lang=es")).text)
        unknown = html.unescape((await client.get("/console/help?lang=fr")).text)
    assert '<html lang="es">' in page and "Guía rápida de NextUp" in page
    for line in (*help_card.BOT_COMMANDS, *help_card.BOARD, *help_card.UNREACHABLE):
        assert line.es in page and line.en not in page, line
    assert 'href="/console/help?lang=en"' in page
    assert "NextUp quick reference" in unknown  # any other language: English


async def test_the_print_stylesheet_fits_a4(api: Api) -> None:
    response = await api.client.get("/static/help.css")
    assert response.status_code == 200
    assert "@page { size: A4" in response.text and "@media print" in response.text
